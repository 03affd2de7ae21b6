"""The three stores on a real SQLite file: the original API, idempotent writes, and bad files."""
from __future__ import annotations

import numpy as np
import pytest

from simulator.catalog import get_model
from simulator.scenarios import get_scenario
from simulator.world import World
from stores import StoreError, open_stores


@pytest.fixture
def stores(tmp_path):
    s = open_stores(tmp_path / "mlmon.db")
    yield s
    s.close()


@pytest.fixture
def world():
    return World(get_model("pneumonia_classifier_v1"), get_scenario("stable"), 0)


def test_a_replayed_day_replaces_its_rows_instead_of_adding(stores, world):
    stores.predictions.register_model(world.schema())
    log = world.to_log(world.serve(world.initial_state(), 0))
    stores.predictions.store_batch("r", world.spec.name, 0, log)
    stores.predictions.store_batch("r", world.spec.name, 0, log)
    stores.predictions.store_batch("r", world.spec.name, 1, world.to_log(world.serve(world.initial_state(), 1)))
    assert stores.predictions.count_rows("r", world.spec.name) == {0: 5000, 1: 5000}


def test_day_view_reads_back_what_was_written(stores, world):
    stores.predictions.register_model(world.schema())
    batch = world.serve(world.initial_state(), 0)
    stores.predictions.store_batch("r", world.spec.name, 0, world.to_log(batch))
    view = stores.predictions.day_view("r", world.spec.name, 0)
    assert view.n_rows == 5000 and view.n_labelled == int(batch.labelled.sum())
    assert len(view.sample) == 2000
    in_sample = batch.sample_rank < 2000
    assert np.allclose(np.sort(view.sample.score), np.sort(batch.score[in_sample]))
    assert np.allclose(np.sort(view.sample.numeric[:, 0]), np.sort(batch.numeric[in_sample, 0]))
    measured = np.mean(view.labelled.prediction == view.labelled.label)
    assert measured == pytest.approx(np.mean(batch.prediction[batch.labelled] == batch.label[batch.labelled]))


def test_original_prediction_api(stores, world):
    stores.predictions.register_model(world.schema())
    features = {"patient_age": 40.0, "temperature_c": 38.5, "scanner_vendor": "siemens", "sex": "F"}
    stores.predictions.store_prediction(world.spec.name, features, 1, 1767225600.0 + 3600, run_id="r", day=0, row=0,
                                        score=0.9, label=1)
    stores.predictions.store_prediction(world.spec.name, features, 0, 1767225600.0 + 7200, run_id="r", day=0, row=1,
                                        score=0.2, label=1)
    rows = stores.predictions.get_predictions(world.spec.name, (0, 0), run_id="r")
    assert [r["prediction"] for r in rows] == [1, 0] and rows[0]["temperature_c"] == 38.5 and rows[0]["opacity_score"] is None
    assert stores.predictions.calculate_accuracy(world.spec.name, 24, run_id="r") == 0.5
    assert stores.predictions.calculate_accuracy(world.spec.name, 0.5, run_id="r") == 0.0  # only the newest row
    with pytest.raises(StoreError, match="unknown features"):
        stores.predictions.store_prediction(world.spec.name, {"x_ray_colour": 1.0}, 1, 0.0, run_id="r", day=0, row=2)


def test_metrics_timeseries_and_health(stores):
    for day, (acc, status) in enumerate([(0.87, 0), (0.80, 1), (0.74, 2)]):
        stores.metrics.store_metric("m", "accuracy", acc, run_id="r", day=day)
        stores.metrics.store_metric("m", "performance_status_code", status, run_id="r", day=day)
    stores.metrics.store_metric("m", "accuracy", 0.75, run_id="r", day=2)  # a replay overwrites
    assert stores.metrics.get_metric_timeseries("m", "accuracy", run_id="r") == [(0, 0.87), (1, 0.80), (2, 0.75)]
    health = stores.metrics.get_model_health("m", run_id="r")
    assert health["day"] == 2 and health["status"] == "critical" and health["metrics"]["accuracy"] == 0.75
    assert stores.metrics.get_model_health("other", run_id="r")["status"] == "unknown"


def test_alerts_incidents_and_actions(stores):
    inc = stores.incidents
    alert = inc.create_alert("m", "accuracy", "high", run_id="r", day=3, message="accuracy 0.80")
    assert inc.create_alert("m", "accuracy", "high", run_id="r", day=3) == alert  # idempotent
    incident = inc.create_incident(alert, "covariate_drift", "~$1,000/day")
    inc.store_remediation_action(incident, "retrain_now", {"status": "applied"}, run_id="r", model_id="m", day=3,
                                 justification="critical drift", cost=5000)
    inc.store_remediation_action(incident, "retrain_now", {"status": "applied"}, run_id="r", model_id="m", day=3)
    assert len(inc.alerts("r")) == 1 and inc.get_alert(alert)["incident_id"] == incident
    assert inc.incidents("r")[0]["root_cause"] == "covariate_drift"
    assert len(inc.actions("r", "m")) == 1
    with pytest.raises(ValueError, match="severity"):
        inc.create_alert("m", "accuracy", "apocalyptic", run_id="r", day=3)


def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(tmp_path):
    path = tmp_path / "mlmon.db"
    path.write_bytes(b"this is not a database" * 100)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        open_stores(path)
    assert path.read_bytes() == before
