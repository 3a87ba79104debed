"""Admin keys (hashing, bearer parsing, constant-time comparison), the trainable networks, and the rule that no
function or the layer ever imports TensorFlow."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import sys
import textwrap

import pytest

from drcaptcha import admins
from drcaptcha.errors import BadRequest, Unauthorized
from drcaptcha_ops.template import REPO_ROOT
from drcaptcha_train.options import NETWORK_NAMES


def test_a_key_is_stored_as_its_sha256_and_only_the_same_key_matches() -> None:
    key = "dca_" + "k" * 43

    stored = admins.hash_admin_key(key)

    assert stored == hashlib.sha256(key.encode()).hexdigest()
    assert key not in stored
    assert admins.key_matches(key, stored)
    assert not admins.key_matches(key[:-1] + "j", stored)
    assert not admins.key_matches(key, "")


def test_keys_are_compared_with_hmac_compare_digest(monkeypatch: pytest.MonkeyPatch) -> None:
    """Timing cannot be measured reliably in a unit test, so this checks the constant-time primitive is the one
    used: a stand-in for `hmac.compare_digest` that records its calls and answers False must decide the result."""
    calls: list[tuple[bytes, bytes]] = []

    def recording_compare(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return False

    key = "dca_" + "q" * 43
    stored = admins.hash_admin_key(key)
    monkeypatch.setattr(hmac, "compare_digest", recording_compare)

    assert not admins.key_matches(key, stored)
    assert calls == [(stored.encode(), stored.encode())]


@pytest.mark.parametrize(
    "header",
    [None, "", "Bearer", "Bearer ", "bearer dca_abcdefghijklmnopq", "Basic dca_abcdefghijklmnop", "Bearer a b"],
)
def test_a_missing_or_malformed_authorization_header_is_401(header: str | None) -> None:
    with pytest.raises(Unauthorized):
        admins.bearer_key(header)


def test_a_well_formed_bearer_header_yields_its_key() -> None:
    assert admins.bearer_key("Bearer dca_abcdefghijklmnop_-0123") == "dca_abcdefghijklmnop_-0123"


def test_the_admin_function_knows_the_same_networks_as_the_trainer() -> None:
    assert admins.TRAINABLE_NETWORKS == NETWORK_NAMES
    with pytest.raises(BadRequest, match="alexnet"):
        admins.training_command("alexnet", 3)
    assert admins.training_command("cnn2", 3) == ["--network", "cnn2", "--epochs", "3"]


def test_no_function_handler_and_no_layer_module_imports_tensorflow() -> None:
    # Given a fresh interpreter that imports every function's handler module and every layer module
    script = textwrap.dedent(
        """
        import importlib, pkgutil, sys
        import drcaptcha
        for module in pkgutil.iter_modules(drcaptcha.__path__, "drcaptcha."):
            importlib.import_module(module.name)
        for name in ("captcha", "siteverify", "labels", "admin", "recognize"):
            importlib.import_module(f"functions.{name}.app")
        from drcaptcha.serving import ActiveEnsembleCache
        from drcaptcha.ensembles import LiteModel
        print(sorted(name for name in sys.modules if name.split(".")[0] in {"tensorflow", "keras"}))
        """
    )

    # When it has imported them all
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        env={"PYTHONPATH": f"{REPO_ROOT / 'layers/drcaptcha/python'}:{REPO_ROOT}", "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # Then neither TensorFlow nor Keras was loaded
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
