"""Typical savings of optimisation techniques, for what-if estimates before anything is measured.

Every range is INDICATIVE: it is our reading of published results, which were measured on other
models, hardware and workloads. A what-if estimate is a reason to try something, never a result; the
product replaces it with a measurement (assessments.decisions.roi) once the optimisation is applied.

Fractions are of the energy per unit of work (or, for carbon-aware scheduling, of the operational
carbon only: shifting work in time changes neither the energy nor, without hourly prices, its cost).
Pure module: plain values only.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class TechniqueSaving:
    technique: str  # assessments.models.Technique value
    low: float  # fraction saved, low end of the indicative range
    high: float  # fraction saved, high end
    applies_to: str  # "energy" (energy, cost and carbon scale together) or "carbon"
    source: str  # publication(s), with year, that the range is read from
    note: str  # what the source measured, and the caveats

    @property
    def midpoint(self) -> float:
        return (self.low + self.high) / 2

    @property
    def label(self) -> str:
        return f"{self.low:.0%}-{self.high:.0%} (indicative)"


TECHNIQUE_SAVINGS: dict[str, TechniqueSaving] = {
    saving.technique: saving
    for saving in [
        TechniqueSaving(
            technique="quantisation",
            low=0.10,
            high=0.40,
            applies_to="energy",
            source=(
                "Jacob et al., 'Quantization and Training of Neural Networks for Efficient "
                "Integer-Arithmetic-Only Inference', CVPR 2018; Horowitz, 'Computing's energy "
                "problem (and what we can do about it)', ISSCC 2014"
            ),
            note=(
                "INT8 integer-only inference runs markedly faster than FP32 (Jacob et al.), and an "
                "8-bit integer multiply costs about 0.2 pJ against 3.7 pJ for a 32-bit float one "
                "(Horowitz, 45 nm). Whole-system savings are far smaller than per-operation ones, "
                "and weight-only quantisation of small models at batch size 1 can even cost "
                "energy (Dettmers et al., 'LLM.int8()', NeurIPS 2022, report slower inference for "
                "small models): measure it."
            ),
        ),
        TechniqueSaving(
            technique="pruning",
            low=0.10,
            high=0.40,
            applies_to="energy",
            source=(
                "Han, Mao and Dally, 'Deep Compression: Compressing Deep Neural Networks with "
                "Pruning, Trained Quantization and Huffman Coding', ICLR 2016"
            ),
            note=(
                "Pruned fully-connected layers ran 3x to 4x faster with 3x to 7x better energy "
                "efficiency on CPU, GPU and mobile GPU benchmarks. Those are per-layer figures for "
                "sparse kernels; whole-model savings on dense GPU kernels are much lower."
            ),
        ),
        TechniqueSaving(
            technique="distillation",
            low=0.35,
            high=0.60,
            applies_to="energy",
            source=(
                "Sanh et al., 'DistilBERT, a distilled version of BERT: smaller, faster, cheaper "
                "and lighter', NeurIPS 2019 EMC2 workshop (arXiv:1910.01108)"
            ),
            note=(
                "DistilBERT is 40% smaller and 60% faster than BERT-base while keeping 97% of its "
                "language understanding; energy per inference falls roughly with run time when "
                "power stays similar. Validate a distilled model on your own quality metric."
            ),
        ),
        TechniqueSaving(
            technique="low_rank",
            low=0.10,
            high=0.35,
            applies_to="energy",
            source=(
                "Denton et al., 'Exploiting Linear Structure Within Convolutional Networks for "
                "Efficient Evaluation', NeurIPS 2014"
            ),
            note=(
                "Low-rank approximations sped up convolutional layers about 2x on CPU and GPU "
                "within 1% of the original accuracy; whole-model savings are smaller."
            ),
        ),
        TechniqueSaving(
            technique="batching",
            low=0.20,
            high=0.50,
            applies_to="energy",
            source=(
                "Kwon et al., 'Efficient Memory Management for Large Language Model Serving with "
                "PagedAttention' (vLLM), SOSP 2023"
            ),
            note=(
                "Batching requests (continuous batching in vLLM) raised LLM serving throughput 2x "
                "to 4x at the same latency; at similar GPU power, energy per request falls with "
                "throughput. Gains are smallest where the GPU is already well utilised."
            ),
        ),
        TechniqueSaving(
            technique="power_cap",
            low=0.10,
            high=0.20,
            applies_to="energy",
            source=(
                "Zhao et al., 'Sustainable Supercomputing for AI: GPU Power Capping at HPC Scale', "
                "ACM SoCC 2023 (MIT Lincoln Laboratory Supercomputing Center); You, Chung and "
                "Chowdhury, 'Zeus: Understanding and Optimizing GPU Energy Consumption of DNN "
                "Training', NSDI 2023"
            ),
            note=(
                "Capping GPUs at about 60-80% of their power limit cut energy by roughly 10-20% "
                "for a few percent longer run time (MIT LLSC reported about 12-15% less energy for "
                "about 3% more time); Zeus showed the energy/time trade-off of power limits per "
                "job. Best for training, where a small slowdown rarely matters."
            ),
        ),
        TechniqueSaving(
            technique="carbon_aware",
            low=0.05,
            high=0.30,
            applies_to="carbon",
            source=(
                "Dodge et al., 'Measuring the Carbon Intensity of AI in Cloud Instances', ACM "
                "FAccT 2022; Wiesner et al., 'Let's Wait Awhile: How Temporal Workload Shifting "
                "Can Reduce Carbon Emissions in the Cloud', Middleware 2021"
            ),
            note=(
                "Starting flexible jobs in cleaner hours cuts operational carbon by very "
                "different amounts: large reductions for short jobs in grids with a strong daily "
                "cycle, only a few percent for multi-day jobs (Dodge et al.). Energy and cost are "
                "unchanged. The carbon-aware timing recommendation computes the actual figure "
                "from your hourly grid series where one is imported."
            ),
        ),
        TechniqueSaving(
            technique="hardware_change",
            low=0.20,
            high=0.50,
            applies_to="energy",
            source=(
                "Patterson et al., 'Carbon Emissions and Large Neural Network Training', "
                "arXiv:2104.10350, 2021"
            ),
            note=(
                "Processors and systems optimised for ML training improved performance per watt "
                "2x to 5x over general-purpose ones; a move between GPU generations usually gains "
                "less, and new hardware adds embodied carbon that the saving must repay."
            ),
        ),
    ]
}


def technique_saving(technique: str) -> TechniqueSaving | None:
    """The indicative range of a technique; None where no published range applies ("other")."""
    return TECHNIQUE_SAVINGS.get(technique)
