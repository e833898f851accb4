from assessments.models.ai_systems import (
    AiSystem,
    AiSystemVersion,
    VersionProject,
    VersionRelation,
)
from assessments.models.codecarbon import (
    CodeCarbonEmission,
    CodeCarbonExperiment,
    CodeCarbonRun,
    HourlyCodeCarbonFact,
)
from assessments.models.daily import (
    DailyDeviceFact,
    DailyHostRangeFact,
    DailyProjectFact,
    DailyRangeFact,
    DailySiteFactors,
)
from assessments.models.decisions import Optimisation, Recommendation, Technique
from assessments.models.factor_changes import FactorChange
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
from assessments.models.watch import (
    AlertEpisode,
    AlertNotification,
    AlertRule,
    Budget,
    NotificationChannel,
)

__all__ = [
    "MEASURE_FIELDS",
    "AiSystem",
    "AiSystemVersion",
    "AlertEpisode",
    "AlertNotification",
    "AlertRule",
    "Allocation",
    "ApiToken",
    "AttributionRule",
    "Budget",
    "CodeCarbonEmission",
    "CodeCarbonExperiment",
    "CodeCarbonRun",
    "DailyDeviceFact",
    "DailyInServiceFact",
    "DailyHostRangeFact",
    "DailyProjectFact",
    "DailyRangeFact",
    "DailySiteFactors",
    "DeviceInService",
    "FactorChange",
    "GridIntensityHour",
    "GridZone",
    "HardwareModel",
    "HourlyCodeCarbonFact",
    "HourlyDeviceFact",
    "HourlyJobFact",
    "HourlyProjectFact",
    "InServiceStale",
    "NotificationChannel",
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
    "VersionProject",
    "VersionRelation",
    "UserProfile",
    "WorkKind",
    "WorkRecord",
    "WorkSource",
]
