from assessments.models.codecarbon import (
    CodeCarbonEmission,
    CodeCarbonExperiment,
    CodeCarbonRun,
    HourlyCodeCarbonFact,
)
from assessments.models.daily import DailyDeviceFact, DailyProjectFact
from assessments.models.decisions import Optimisation, Recommendation, Technique
from assessments.models.facts import HourlyDeviceFact, HourlyProjectFact
from assessments.models.organisation import (
    Allocation,
    ApiToken,
    GridIntensityHour,
    GridZone,
    HardwareModel,
    Organisation,
    Phase,
    Project,
    Site,
    Team,
    UserProfile,
    WorkRecord,
)
from assessments.models.reports import Report

__all__ = [
    "Allocation",
    "ApiToken",
    "CodeCarbonEmission",
    "CodeCarbonExperiment",
    "CodeCarbonRun",
    "DailyDeviceFact",
    "DailyProjectFact",
    "GridIntensityHour",
    "GridZone",
    "HardwareModel",
    "HourlyCodeCarbonFact",
    "HourlyDeviceFact",
    "HourlyProjectFact",
    "Optimisation",
    "Organisation",
    "Phase",
    "Project",
    "Recommendation",
    "Report",
    "Site",
    "Team",
    "Technique",
    "UserProfile",
    "WorkRecord",
]
