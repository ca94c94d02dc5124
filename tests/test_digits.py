"""minigan.digits: the built-in MNIST subset (split, sha256 check), the shipped digit
classifier (held-out accuracy), and the score functions on inputs with known answers."""

import math
import shutil

import numpy as np
import pytest

import minigan as mg
from minigan import digits


@pytest.fixture(scope="module")
def held_out():
    return digits.load_mnist_5k("test")


# --- the data file --------------------------------------------------------------------


def test_the_split_is_4000_train_and_1000_held_out_100_per_class():
    train_x, train_y = digits.load_mnist_5k("train")
    test_x, test_y = digits.load_mnist_5k("test")
    all_x, all_y = digits.load_mnist_5k("all")
    assert train_x.shape == (4000, 28, 28) and test_x.shape == (1000, 28, 28)
    assert all(a.dtype == np.uint8 for a in (train_x, train_y, test_x, test_y, all_x, all_y))
    assert np.bincount(train_y, minlength=10).tolist() == [400] * 10
    assert np.bincount(test_y, minlength=10).tolist() == [100] * 10
    np.testing.assert_array_equal(all_x, np.concatenate([train_x, test_x]))
    np.testing.assert_array_equal(all_y, np.concatenate([train_y, test_y]))
    assert 0 < train_x.mean() < 255 and train_x.max() == 255


def test_no_held_out_image_is_a_training_image():
    train_x, _ = digits.load_mnist_5k("train")
    test_x, _ = digits.load_mnist_5k("test")
    train_rows = {row.tobytes() for row in train_x}
    assert not any(row.tobytes() in train_rows for row in test_x)


def test_an_unknown_split_is_refused():
    with pytest.raises(ValueError, match="unknown split"):
        digits.load_mnist_5k("validation")


@pytest.mark.parametrize("name, load", [
    (digits.MNIST_FILE, lambda path: digits.load_mnist_5k("test", path=path)),
    (digits.CLASSIFIER_FILE, lambda path: digits.load_weights(digits.DigitClassifier(), path)),
])
def test_a_tampered_file_is_refused_by_its_sha256(tmp_path, name, load):
    copy = tmp_path / name
    shutil.copyfile(digits.asset_path(name), copy)
    load(copy)  # an intact copy loads: the path argument is really read
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0x01
    copy.write_bytes(bytes(data))
    with pytest.raises(ValueError) as caught:
        load(copy)
    message = str(caught.value)
    assert str(copy) in message and "sha256" in message and "\n" not in message


def test_a_missing_file_names_itself(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.npz"):
        digits.load_mnist_5k(path=tmp_path / "nothing.npz")


# --- the classifier -------------------------------------------------------------------


def test_the_shipped_classifier_reaches_97_5_percent_on_the_held_out_images(held_out):
    images, labels = held_out
    accuracy = (digits.predict_proba(images).argmax(axis=1) == labels).mean()
    assert accuracy >= 0.975, f"held-out accuracy {accuracy:.4f}"


def test_building_the_classifier_leaves_the_global_random_state_alone(tmp_path):
    copy = tmp_path / digits.CLASSIFIER_FILE
    shutil.copyfile(digits.asset_path(digits.CLASSIFIER_FILE), copy)
    mg.manual_seed(5)
    expected = mg.randn(4).numpy()
    mg.manual_seed(5)
    digits.classifier(path=copy)  # a new path: built afresh, not taken from the cache
    np.testing.assert_array_equal(mg.randn(4).numpy(), expected)


def test_uint8_and_float_images_give_the_same_answer(held_out):
    images = held_out[0][:50]
    scaled = (images.astype(np.float32) / np.float32(127.5) - 1)[:, None]
    p = digits.predict_proba(images)
    assert p.shape == (50, 10) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(digits.predict_proba(scaled), p, atol=1e-6)
    np.testing.assert_allclose(digits.predict_proba(mg.tensor(scaled.reshape(50, 784))), p,
                               atol=1e-6)
    assert digits.features(images).shape == (50, 128)


def test_images_in_the_wrong_range_or_shape_are_refused(held_out):
    images = held_out[0][:4]
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        digits.predict_proba(images.astype(np.float32))  # 0-255 as floats
    with pytest.raises(ValueError, match="shape"):
        digits.predict_proba(images[:, :27])


def test_cross_entropy_matches_the_naive_formula_and_its_gradient():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((6, 10)) * 3
    labels = rng.integers(0, 10, 6)
    expected = -np.mean(np.log(np.exp(logits) / np.exp(logits).sum(1, keepdims=True))
                        [np.arange(6), labels])
    z = mg.tensor(logits, requires_grad=True)
    assert math.isclose(digits.cross_entropy(z, labels).item(), expected, rel_tol=1e-9)
    assert mg.gradcheck(lambda t: digits.cross_entropy(t, labels), [z])
    big = mg.tensor(np.array([[1e4, 0.0], [0.0, -1e4]], dtype=np.float32))
    assert math.isfinite(digits.cross_entropy(big, np.array([1, 1])).item())


# --- the score ------------------------------------------------------------------------


def gaussian_set(n, d, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) + rng.standard_normal(d)


def test_the_frechet_distance_of_a_set_to_itself_is_zero():
    a = gaussian_set(300, 8, 0)
    assert abs(digits.frechet_distance(a, a)) < 1e-8


def test_shifting_a_set_adds_the_squared_length_of_the_shift():
    a, shift = gaussian_set(300, 8, 1), np.arange(8) / 3.0
    expected = float(shift @ shift)
    assert math.isclose(digits.frechet_distance(a, a + shift), expected, rel_tol=1e-9)
    b = gaussian_set(400, 8, 2)
    assert math.isclose(digits.frechet_distance(a, b + shift) - digits.frechet_distance(a, b),
                        expected + 2 * float((b.mean(0) - a.mean(0)) @ shift), rel_tol=1e-8)


def test_the_frechet_distance_agrees_with_the_eigenvalues_of_the_covariance_product():
    # tr (S_a S_b)^{1/2} = Σ sqrt(eig(S_a S_b)): an independent route to the cross term
    a, b = gaussian_set(500, 6, 3), gaussian_set(500, 6, 4)
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    cross = np.sqrt(np.linalg.eigvals(s_a @ s_b).real.clip(0)).sum()
    diff = a.mean(0) - b.mean(0)
    expected = diff @ diff + np.trace(s_a) + np.trace(s_b) - 2 * cross
    assert math.isclose(digits.frechet_distance(a, b), expected, rel_tol=1e-9)
    assert digits.frechet_distance(a, b) > 1  # the sets differ


def test_the_frechet_distance_survives_singular_covariances():
    a = np.zeros((50, 4))
    a[:, 0] = np.linspace(-1, 1, 50)  # rank 1
    assert abs(digits.frechet_distance(a, a)) < 1e-9
    with pytest.raises(ValueError, match="same D"):
        digits.frechet_distance(a, a[:, :3])


def test_kl_to_uniform_is_zero_for_a_uniform_histogram_and_log_k_for_one_bin():
    assert digits.kl_to_uniform([7] * 10) == pytest.approx(0, abs=1e-12)
    assert digits.kl_to_uniform([0, 0, 5, 0]) == pytest.approx(math.log(4))
    assert digits.kl_to_uniform([1, 3]) == pytest.approx(0.25 * math.log(0.5)
                                                        + 0.75 * math.log(1.5))


def test_real_held_out_digits_score_as_real(held_out):
    score = digits.digit_score(held_out[0])
    assert score["n_samples"] == 1000
    assert score["classes_present"] == 10
    assert score["kl_to_uniform"] < 0.01
    assert score["mean_confidence"] > 0.95
    assert score["frechet"] == pytest.approx(0, abs=1e-6)  # the reference itself
    floor = digits.real_frechet_floor()
    assert 0 < floor < 20
    assert score["frechet_floor"] == digits.real_frechet_floor(1000) > floor  # small-set bias


def test_one_repeated_digit_scores_as_one_class_and_a_class_needs_1_percent(held_out):
    images, labels = held_out
    predicted = digits.predict_proba(images).argmax(axis=1)
    threes = images[(labels == 3) & (predicted == 3)][:10]
    fives = images[(labels == 5) & (predicted == 5)][:10]
    score = digits.digit_score(np.repeat(threes, 100, axis=0))
    assert score["classes_present"] == 1
    assert score["kl_to_uniform"] == pytest.approx(math.log(10))
    assert score["frechet"] > 10 * score["frechet_floor"]
    few = digits.digit_score(np.concatenate([np.repeat(threes, 100, axis=0)[:991], fives[:9]]))
    enough = digits.digit_score(np.concatenate([np.repeat(threes, 100, axis=0)[:990],
                                                fives[:10]]))
    assert (few["classes_present"], enough["classes_present"]) == (1, 2)


def test_check_files_passes_the_shipped_files_and_names_a_tampered_one(tmp_path, monkeypatch):
    digits.check_files()
    copy = tmp_path / digits.CLASSIFIER_FILE
    shutil.copyfile(digits.asset_path(digits.CLASSIFIER_FILE), copy)
    copy.write_bytes(copy.read_bytes() + b"\0")
    packaged = digits.asset_path
    monkeypatch.setattr(digits, "asset_path",
                        lambda name: copy if name == digits.CLASSIFIER_FILE else packaged(name))
    with pytest.raises(ValueError, match=f"{digits.CLASSIFIER_FILE}: sha256"):
        digits.check_files()


def test_metrics_exposes_the_digit_score_for_users_generators():
    from minigan import metrics

    for name in ("digit_score", "frechet_distance", "kl_to_uniform", "real_frechet_floor"):
        assert getattr(metrics, name) is getattr(digits, name) and name in metrics.__all__
