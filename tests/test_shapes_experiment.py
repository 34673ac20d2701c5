"""The 3-D point-shapes experiment of benchmarks/reproduce.py: its data, the reason it has
no ``key_order="columns"`` row, and the rows and page section of its quick mode."""

import math

import numpy as np
import pytest
from _scripts import load_reproduce


R = load_reproduce()
S = R.EXPERIMENTS["shapes"]


def test_registered_after_the_qm9_tables():
    names = list(R.EXPERIMENTS)
    assert names.index("shapes") == names.index("qm9_classification") + 1
    with pytest.raises(SystemExit):
        R.main(["--only", "shape"])


def test_ceiling_counts_the_mirror_pair_once():
    from skcanon.datasets import PRIMITIVE_SHAPES, TETRIS_SHAPES

    assert S.ceiling([*TETRIS_SHAPES, *PRIMITIVE_SHAPES]) == pytest.approx(12 / 13)
    assert S.ceiling(["sphere", "cube"]) == 1.0
    assert S.ceiling(["chiral_1", "cube"]) == 1.0  # one of the pair alone is told apart


def test_data_are_posed_shuffled_and_stratified():
    size = dict(S.SIZES["quick"])
    (Xtr, Xte, ytr, yte), layout, names = S.load_shapes(size, seed=3)
    assert Xtr.shape == (size["n_train"], 3 * size["n_points"]) and len(Xte) == size["n_test"]
    assert len(names) == 13 and set(np.unique(ytr)) == set(range(13))
    counts = np.bincount(ytr, minlength=13)
    assert counts.max() - counts.min() <= 1  # balanced classes, stratified split
    # random poses: clouds are translated and the same class differs from cloud to cloud
    P = Xtr.reshape(len(Xtr), -1, 3)
    assert np.abs(P.mean(axis=1)).max() > 0.5
    # a different seed draws different clouds
    (Xtr2, *_), _, _ = S.load_shapes(size, seed=4)
    assert not np.allclose(Xtr, Xtr2)


def test_key_orders_agree_without_scalar_fields():
    # why the table has no key_order="columns" row: positions only, both orders sort on x, y, z
    from skcanon import CanonicalizerTransformer

    (Xtr, Xte, ytr, yte), layout, _ = S.load_shapes(dict(S.SIZES["quick"]), seed=0)
    default = CanonicalizerTransformer(S.GROUP, "pca+sort", layout=layout).fit(Xtr)
    columns = CanonicalizerTransformer(S.GROUP, "pca+sort", layout=layout, key_order="columns").fit(Xtr)
    assert default.get_params()["key_order"] != "columns"
    np.testing.assert_array_equal(default.transform(Xte), columns.transform(Xte))


@pytest.fixture(scope="module")
def quick_rows():
    return S.run(quick=True, seed=0)


@pytest.mark.slow
def test_quick_experiment_rows(quick_rows, tmp_path):
    from skcanon.canonicalizers import METHODS

    forest = [r for r in quick_rows if r["table"] == S.TABLE]
    e2e = [r for r in quick_rows if r["table"] == S.TABLE_E2E]
    names = [r["method"] for r in forest]
    assert names == [S.RAW, S.PCA_SORT, S.RANDOM, S.LEARNED, *([S.ANCHORED] if "anchored" in METHODS else []),
                     S.PROJECTOR]
    # the end-to-end table comes after the forest rows, one row per frame
    assert quick_rows[:len(forest)] == forest
    assert [r["method"] for r in e2e] == [S.E2E_LEARNED, S.E2E_ANCHORED, S.E2E_PCA, S.E2E_AUG, S.E2E_NONE]
    assert len(forest) + len(e2e) == len(quick_rows)
    for r in quick_rows:
        assert r["metric"] == "accuracy" and r["experiment"] == "shapes"
        assert math.isfinite(r["score"]) and 0.0 <= r["score"] <= 1.0, r.get("note")
        assert r["n_train"] == S.SIZES["quick"]["n_train"] and r["n_test"] == S.SIZES["quick"]["n_test"]
    r = {row["method"]: row for row in quick_rows}
    # canonicalized and projected pipelines are invariant; raw coordinates are not
    for name in names[1:]:
        assert r[name]["invariance_error"] < 1e-6, name
    assert r[S.RAW]["invariance_error"] > 1e-2
    # end to end: the learned frame and the PCA frame are invariant up to float32 rounding;
    # the same network on raw poses is not
    assert max(r[k]["invariance_error"] for k in (S.E2E_LEARNED, S.E2E_ANCHORED, S.E2E_PCA)) < 1e-4
    # anchored gets the comparison columns but carries no target
    assert r[S.E2E_ANCHORED]["wins"] in ("0/1", "1/1") and r[S.E2E_ANCHORED]["target"] == "—"
    assert r[S.E2E_NONE]["invariance_error"] > 1e-3
    for row in e2e:
        assert row["epochs"] == S.E2E_EPOCHS["quick"] and math.isfinite(row["train_loss"]), row.get("note")
    assert r[S.E2E_LEARNED]["target"] in ("met", "missed") and r[S.E2E_LEARNED]["wins"] in ("0/1", "1/1")
    assert (r[S.E2E_LEARNED]["target"] == "met") == (r[S.E2E_LEARNED]["score"] > r[S.E2E_PCA]["score"])
    # the columns the closing note is written from
    for row in quick_rows:
        assert len(row["per_class_accuracy"]) == len(row["class_names"]) == 13
    for name in (S.LEARNED, S.ANCHORED) if "anchored" in METHODS else (S.LEARNED,):
        assert 1 <= r[name]["best_epoch"] <= r[name]["epochs_trained"]
        assert math.isfinite(r[name]["best_valid_loss"])
    assert "best_epoch" not in r[S.PCA_SORT] and "best_epoch" not in r[S.RANDOM]
    assert r[S.LEARNED]["target"] in ("met", "missed")
    assert r[S.LEARNED]["wins"] in ("0/1", "1/1")
    # raw coordinates in random poses are near chance (1/13); distances are far above it
    assert r[S.PROJECTOR]["score"] > r[S.RAW]["score"] + 0.2
    # the results page gets the section, written from the stored rows (two seeds: means ± sd)
    rows_dir = tmp_path / "rows"
    two = [dict(x, seed=0) for x in quick_rows] + [dict(x, seed=1, score=x["score"] * 0.9) for x in quick_rows]
    R.save_rows("shapes", two, "python benchmarks/reproduce.py --quick --seeds 0,1", 1.0, True, [0, 1],
                rows_dir=rows_dir)
    text = R.write_results(R.load_rows(rows_dir), path=tmp_path / "results.md",
                           fig_dir=tmp_path / "fig").read_text()
    assert "## 3-D point shapes (E(3)×S_n, classification)" in text and "| shapes |" in text
    assert "mean ± sd over 2 seeds" in text and S.LEARNED in text and "met in seeds" in text
    assert (tmp_path / "fig" / "shapes.png").stat().st_size > 0
    assert "on the eight Tetris polycubes" in text and "chance: ln 13" in text
    # the end-to-end table: its own subsection, figure and target columns; the forest table
    # keeps only its rows
    forest_part, e2e_part = text.split("### End to end", 1)
    assert S.E2E_LEARNED not in forest_part and S.RAW in forest_part
    assert S.E2E_LEARNED in e2e_part and S.E2E_PCA in e2e_part and "vs pca frame" in e2e_part
    assert "mean ± sd over 2 seeds" in e2e_part and "Learned end to end" in e2e_part
    assert (tmp_path / "fig" / "shapes_end_to_end.png").stat().st_size > 0


def _e2e_seed(seed, learned, pca):
    return [dict(table=S.TABLE_E2E, method=S.E2E_LEARNED, score=learned, seed=seed, metric="accuracy"),
            dict(table=S.TABLE_E2E, method=S.E2E_PCA, score=pca, seed=seed, metric="accuracy")]


def _judge(seeds):
    per_seed = [_e2e_seed(k, learned, pca) for k, (learned, pca) in enumerate(seeds)]
    pooled = S.pool_seeds([row for rows in per_seed for row in rows])
    S._set_e2e_targets(pooled, per_seed)
    return S.rows_of(pooled, S.TABLE_E2E)[S.E2E_LEARNED]


def test_e2e_target_is_strict_and_counts_wins():
    clear = _judge([(0.80, 0.70), (0.82, 0.71), (0.79, 0.72)])
    assert (clear["target"], clear["better_by_1_sd"], clear["wins"]) == ("met", "met", "3/3")
    assert clear["vs_pca_frame"] == "+0.0933"
    # ahead on the means but within one sd, and behind in one seed
    close = _judge([(0.80, 0.70), (0.70, 0.72), (0.75, 0.72)])
    assert (close["target"], close["better_by_1_sd"], close["wins"]) == ("met", "missed", "2/3")
    # a tie is not a win: the target asks for learned above the PCA frame
    tie = _judge([(0.70, 0.70), (0.72, 0.72), (0.71, 0.71)])
    assert (tie["target"], tie["wins"]) == ("missed", "0/3")
    one = _judge([(0.70, 0.60)])
    assert (one["target"], one["better_by_1_sd"], one["wins"]) == ("met", "—", "1/1")


def test_validation_refuses_the_tables_seeds():
    with pytest.raises(ValueError, match="seed"):
        S.validate_e2e(3e-3, 8, 32, 1, seed=2)
