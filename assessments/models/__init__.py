from assessments.models.codecarbon import (
    CodeCarbonEmission,
    CodeCarbonExperiment,
    CodeCarbonRun,
    HourlyCodeCarbonFact,
)
from assessments.models.daily import DailyDeviceFact, DailyProjectFact, DailySiteFactors
from assessments.models.decisions import Optimisation, Recommendation, Technique
from assessments.models.facts import (
    MEASURE_FIELDS,
    HourlyDeviceFact,
    HourlyJobFact,
    HourlyProjectFact,
)
from assessments.models.in_service import (
    DailyInServiceFact,
    DeviceInService,
    InServiceStale,
)
from assessments.models.organisation import (
    Allocation,
    ApiToken,
    AttributionRule,
    GridIntensityHour,
    GridZone,
    HardwareModel,
    Organisation,
    Phase,
    Project,
    Site,
    Team,
    UserProfile,
    WorkKind,
    WorkRecord,
    WorkSource,
)
from assessments.models.reports import Report
from assessments.models.rollup import RollupShard

__all__ = [
    "MEASURE_FIELDS",
    "Allocation",
    "ApiToken",
    "AttributionRule",
    "CodeCarbonEmission",
    "CodeCarbonExperiment",
    "CodeCarbonRun",
    "DailyDeviceFact",
    "DailyInServiceFact",
    "DailyProjectFact",
    "DailySiteFactors",
    "DeviceInService",
    "GridIntensityHour",
    "GridZone",
    "HardwareModel",
    "HourlyCodeCarbonFact",
    "HourlyDeviceFact",
    "HourlyJobFact",
    "HourlyProjectFact",
    "InServiceStale",
    "Optimisation",
    "Organisation",
    "Phase",
    "Project",
    "Recommendation",
    "Report",
    "RollupShard",
    "Site",
    "Team",
    "Technique",
    "UserProfile",
    "WorkKind",
    "WorkRecord",
    "WorkSource",
]
