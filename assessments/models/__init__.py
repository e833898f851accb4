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
from assessments.models.rollup import RollupShard

__all__ = [
    "Allocation",
    "ApiToken",
    "DailyDeviceFact",
    "DailyProjectFact",
    "GridIntensityHour",
    "GridZone",
    "HardwareModel",
    "HourlyDeviceFact",
    "HourlyProjectFact",
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
    "WorkRecord",
]
