"""The three monitored models of the original brief: their features, traffic, ground truth and SLA.

A model's world is a population of rows. Numeric features are `mean + std * z` with z standard
normal; the label is drawn from a logistic ground truth over z and the categoricals. A *new segment*
(a new scanner, payment channel or material supplier) can enter the traffic: its rows read some
features with a measurement offset, which the deployed model has never seen and which a retrain on
enough of its rows learns to undo. That is how covariate drift costs accuracy here, as it does in life.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NumericFeature:
    name: str
    mean: float
    std: float
    unit: str = ""


@dataclass(frozen=True)
class CategoricalFeature:
    name: str
    categories: tuple[str, ...]
    probs: tuple[float, ...]


@dataclass(frozen=True)
class NewSegment:
    """A sub-population absent from the reference data that scenarios bring into the traffic."""

    column: str  # categorical column whose new value marks the segment
    value: str
    offsets: dict[str, float]  # numeric feature -> measurement offset in std units
    group_probs: tuple[float, ...]  # distribution of the group attribute inside the segment
    description: str


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    daily_volume: int
    label_rate: float  # share of a day's rows whose ground truth arrives the same day
    numeric: tuple[NumericFeature, ...]
    categorical: tuple[CategoricalFeature, ...]
    group: str  # the sensitive attribute checked for bias (one of the categoricals)
    segment: NewSegment
    truth_intercept: float
    truth_weights: dict[str, float]  # numeric feature -> weight on its z-score
    truth_category_effects: dict[str, float] = field(default_factory=dict)  # "col=value" -> logit shift
    concept_weights: dict[str, float] = field(default_factory=dict)  # truth weights after concept drift
    seasonal_features: tuple[str, ...] = ()  # features the weekly cycle moves (the model handles them)
    fault_feature: str = ""  # the feed that breaks in the pipeline_fault scenario
    latency_ms_median: float = 40.0
    latency_sigma: float = 0.35
    latency_p95_sla_ms: float = 150.0
    sla_accuracy: float = 0.80  # below this a day is an SLA violation
    cost_per_error: float = 10.0  # business cost in dollars of one wrong prediction
    positive_label: str = "positive"

    @property
    def numeric_names(self) -> list[str]:
        return [f.name for f in self.numeric]

    @property
    def categorical_names(self) -> list[str]:
        return [f.name for f in self.categorical]

    def categorical_feature(self, name: str) -> CategoricalFeature:
        for feature in self.categorical:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def all_categories(self, name: str) -> tuple[str, ...]:
        """Categories a column can take, the new segment's value included."""
        cats = self.categorical_feature(name).categories
        if name == self.segment.column and self.segment.value not in cats:
            cats = cats + (self.segment.value,)
        return cats


PNEUMONIA = ModelSpec(
    name="pneumonia_classifier_v1",
    description="Chest X-ray pneumonia classifier: image-derived measurements plus vitals.",
    daily_volume=5000,
    label_rate=0.30,  # radiologist confirmation
    positive_label="pneumonia",
    numeric=(
        NumericFeature("patient_age", 56.0, 18.0, "years"),
        NumericFeature("temperature_c", 37.7, 0.9, "C"),
        NumericFeature("oxygen_saturation", 94.0, 3.5, "%"),
        NumericFeature("heart_rate", 90.0, 15.0, "bpm"),
        NumericFeature("white_cell_count", 9.8, 3.2, "10^9/L"),
        NumericFeature("opacity_score", 0.36, 0.17, ""),
        NumericFeature("lung_density_hu", -720.0, 60.0, "HU"),
        NumericFeature("image_contrast", 0.55, 0.12, ""),
        NumericFeature("cardiothoracic_ratio", 0.48, 0.06, ""),
    ),
    categorical=(
        CategoricalFeature("scanner_vendor", ("ge_healthcare", "siemens"), (0.6, 0.4)),
        CategoricalFeature("view_position", ("PA", "AP"), (0.7, 0.3)),
        CategoricalFeature("sex", ("F", "M"), (0.48, 0.52)),
    ),
    group="sex",
    segment=NewSegment(
        column="scanner_vendor",
        value="portable_unit",
        offsets={"opacity_score": 1.3, "lung_density_hu": 1.0, "image_contrast": -1.6, "heart_rate": 0.6},
        group_probs=(0.65, 0.35),
        description="portable X-ray units: low-contrast films that read denser and more opaque",
    ),
    truth_intercept=-1.15,
    truth_weights={
        "patient_age": 0.562,
        "temperature_c": 1.38,
        "oxygen_saturation": -1.62,
        "heart_rate": 0.75,
        "white_cell_count": 1.25,
        "opacity_score": 2.75,
        "lung_density_hu": 0.875,
        "image_contrast": 0.0,
        "cardiothoracic_ratio": 0.25,
    },
    truth_category_effects={"view_position=AP": 0.3},
    concept_weights={  # a strain that shows on film but barely in fever and white cells
        "patient_age": 0.562,
        "temperature_c": -0.375,
        "oxygen_saturation": -2.5,
        "heart_rate": 0.75,
        "white_cell_count": -0.25,
        "opacity_score": 3.75,
        "lung_density_hu": 0.875,
        "image_contrast": 0.0,
        "cardiothoracic_ratio": 0.25,
    },
    seasonal_features=("patient_age", "cardiothoracic_ratio"),
    fault_feature="oxygen_saturation",
    latency_ms_median=45.0,
    latency_sigma=0.35,
    latency_p95_sla_ms=150.0,
    sla_accuracy=0.80,
    cost_per_error=20.0,
)

FRAUD = ModelSpec(
    name="fraud_detector_v2",
    description="Card-transaction fraud detector: rare positives, high volume.",
    daily_volume=50000,
    label_rate=0.20,  # chargebacks and analyst reviews
    positive_label="fraud",
    numeric=(
        NumericFeature("amount_usd", 120.0, 80.0, "USD"),
        NumericFeature("distance_from_home_km", 40.0, 25.0, "km"),
        NumericFeature("txn_count_24h", 4.0, 2.0, ""),
        NumericFeature("account_age_days", 900.0, 450.0, "days"),
        NumericFeature("device_risk_score", 0.25, 0.12, ""),
        NumericFeature("merchant_risk_score", 0.30, 0.15, ""),
        NumericFeature("amount_to_avg_ratio", 1.0, 0.45, ""),
        NumericFeature("hour_of_day", 13.5, 4.5, "h"),
    ),
    categorical=(
        CategoricalFeature("channel", ("card_present", "online"), (0.55, 0.45)),
        CategoricalFeature("card_type", ("debit", "credit"), (0.5, 0.5)),
        CategoricalFeature("customer_region", ("north", "south", "east", "west"), (0.25, 0.25, 0.25, 0.25)),
    ),
    group="customer_region",
    segment=NewSegment(
        column="channel",
        value="mobile_wallet",
        offsets={"device_risk_score": 1.6, "merchant_risk_score": 0.8, "distance_from_home_km": 1.0},
        group_probs=(0.15, 0.45, 0.25, 0.15),
        description="a mobile-wallet channel whose device-risk vendor scores everything higher",
    ),
    truth_intercept=-7.0,
    truth_weights={
        "amount_usd": 0.9,
        "distance_from_home_km": 0.8,
        "txn_count_24h": 0.7,
        "account_age_days": -0.9,
        "device_risk_score": 1.9,
        "merchant_risk_score": 0.9,
        "amount_to_avg_ratio": 1.1,
        "hour_of_day": -0.3,
    },
    truth_category_effects={"channel=online": 0.6},
    concept_weights={  # fraud rings switch to small, frequent, familiar-looking transactions
        "amount_usd": -1.4,
        "distance_from_home_km": -0.2,
        "txn_count_24h": 2.6,
        "account_age_days": -0.9,
        "device_risk_score": 1.3,
        "merchant_risk_score": 0.9,
        "amount_to_avg_ratio": -0.4,
        "hour_of_day": -0.3,
    },
    seasonal_features=("amount_usd", "hour_of_day"),
    fault_feature="device_risk_score",
    latency_ms_median=9.0,
    latency_sigma=0.30,
    latency_p95_sla_ms=40.0,
    sla_accuracy=0.955,
    cost_per_error=6.0,
)

DEFECT = ModelSpec(
    name="defect_detector_v1",
    description="Manufacturing defect detector on line sensor readings.",
    daily_volume=10000,
    label_rate=0.25,  # QA inspection sample
    positive_label="defect",
    numeric=(
        NumericFeature("temperature_c", 210.0, 6.0, "C"),
        NumericFeature("pressure_bar", 35.0, 3.0, "bar"),
        NumericFeature("vibration_mm_s", 2.5, 0.8, "mm/s"),
        NumericFeature("humidity_pct", 45.0, 8.0, "%"),
        NumericFeature("line_speed_m_min", 12.0, 1.5, "m/min"),
        NumericFeature("tool_wear_min", 120.0, 60.0, "min"),
        NumericFeature("spindle_load_pct", 65.0, 10.0, "%"),
    ),
    categorical=(
        CategoricalFeature("material_supplier", ("supplier_a", "supplier_b"), (0.65, 0.35)),
        CategoricalFeature("shift", ("day", "night"), (0.6, 0.4)),
        CategoricalFeature("production_line", ("line_1", "line_2", "line_3"), (0.4, 0.35, 0.25)),
    ),
    group="production_line",
    segment=NewSegment(
        column="material_supplier",
        value="supplier_c",
        offsets={"vibration_mm_s": 1.4, "spindle_load_pct": 1.2, "temperature_c": -0.8},
        group_probs=(0.2, 0.3, 0.5),
        description="a new supplier's stock that machines with more vibration and load but no more defects",
    ),
    truth_intercept=-3.3,
    truth_weights={
        "temperature_c": 0.8,
        "pressure_bar": -0.5,
        "vibration_mm_s": 1.6,
        "humidity_pct": 0.4,
        "line_speed_m_min": 0.6,
        "tool_wear_min": 1.4,
        "spindle_load_pct": 1.0,
    },
    truth_category_effects={"shift=night": 0.3},
    concept_weights={  # a new product variant: humidity and speed matter, wear less
        "temperature_c": 0.8,
        "pressure_bar": -0.5,
        "vibration_mm_s": 0.6,
        "humidity_pct": 1.6,
        "line_speed_m_min": 1.5,
        "tool_wear_min": 0.3,
        "spindle_load_pct": 1.0,
    },
    seasonal_features=("humidity_pct", "temperature_c"),
    fault_feature="tool_wear_min",
    latency_ms_median=20.0,
    latency_sigma=0.30,
    latency_p95_sla_ms=80.0,
    sla_accuracy=0.86,
    cost_per_error=8.0,
)

MODELS: dict[str, ModelSpec] = {spec.name: spec for spec in (PNEUMONIA, FRAUD, DEFECT)}
DEFAULT_MODEL = PNEUMONIA.name


def get_model(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODELS)}") from None
