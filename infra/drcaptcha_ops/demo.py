"""`drcaptcha demo`: the whole product on one machine, from a fresh clone, in one command.

It starts the local service (emulator, gateway, web/, stream poller), imports EMNIST, removes some labels,
registers the fully trained networks committed in networks/ (or, without them, trains a quick network or
restores the one cached by an earlier run), builds and activates an ensemble, makes a demo site and an admin key,
serves the demo sign-up site, and prints where everything is. Ctrl-C stops it all.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm import tqdm

from drcaptcha.config import LOCAL_ENV_FILE
from drcaptcha.errors import DataError
from drcaptcha.glyphs import GlyphStore
from drcaptcha.models.api.admin import MemberRequest
from drcaptcha.models.tables.ensembles import NetworkItem
from drcaptcha.sites import create_site
from drcaptcha_ops.importer import import_emnist, remove_labels
from drcaptcha_ops.template import REPO_ROOT

# Where EMNIST is looked for, in order; the official archive is downloaded into the last one when none has it.
EMNIST_ENV = "DRCAPTCHA_EMNIST"
EMNIST_CANDIDATES = (REPO_ROOT.parent / "shared" / "data" / "emnist", REPO_ROOT / "data" / "emnist")
EMNIST_ARCHIVE_URL = "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip"
# The archive's members that the import needs; their SHA-256 digests are checked by the importer.
EMNIST_MEMBERS = (
    "emnist-bymerge-test-images-idx3-ubyte.gz",
    "emnist-bymerge-test-labels-idx1-ubyte.gz",
    "emnist-byclass-test-images-idx3-ubyte.gz",
    "emnist-byclass-test-labels-idx1-ubyte.gz",
    "emnist-balanced-train-images-idx3-ubyte.gz",
    "emnist-balanced-train-labels-idx1-ubyte.gz",
    "emnist-balanced-test-images-idx3-ubyte.gz",
    "emnist-balanced-test-labels-idx1-ubyte.gz",
)
MODEL_CACHE = LOCAL_ENV_FILE.parent / "cache" / "networks"
# The fully trained networks committed with the code (int8 LiteRT, the demo's cache format), and
# networks/ensemble.json naming the members and their weights (docs/BENCHMARKS.md, "Training").
COMMITTED_NETWORKS = REPO_ROOT / "networks"
DEMO_NETWORK = "cnn2"
DEMO_TRAINING_LIMIT = 40_000
DEMO_EPOCHS = 2
DEMO_UNLABELLED = 2_000


def find_emnist(candidates: tuple[Path, ...] = EMNIST_CANDIDATES) -> Path | None:
    """The first EMNIST folder that exists: $DRCAPTCHA_EMNIST, the shared data folder, then ./data/emnist."""
    configured = os.environ.get(EMNIST_ENV)
    for folder in ([Path(configured)] if configured else []) + list(candidates):
        if folder.is_dir() and any(folder.glob("emnist-*-idx3-ubyte.gz")):
            return folder
    return None


def download_emnist(target: Path, url: str = EMNIST_ARCHIVE_URL) -> Path:
    """Download the official archive with a progress bar and unpack the members the import needs.

    The archive has no published checksum of its own; each member's SHA-256 is checked against the official
    digests when it is imported, and a member that is missing or damaged stops the import with a clear error.
    """
    target.mkdir(parents=True, exist_ok=True)
    archive = target / "gzip.zip.part"
    with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - a fixed https URL or a test's file URL
        total = int(response.headers.get("Content-Length") or 0) or None
        with archive.open("wb") as out, tqdm(total=total, unit="B", unit_scale=True, desc="EMNIST") as bar:
            while chunk := response.read(1 << 20):
                out.write(chunk)
                bar.update(len(chunk))
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = {Path(name).name: name for name in zipped.namelist()}
            for wanted in EMNIST_MEMBERS:
                if wanted in members:
                    with zipped.open(members[wanted]) as source, (target / wanted).open("wb") as out:
                        shutil.copyfileobj(source, out)
    except zipfile.BadZipFile as error:
        raise DataError(f"the download from {url} is not a zip archive") from error
    finally:
        archive.unlink(missing_ok=True)
    if not any(target.glob("emnist-*-idx3-ubyte.gz")):
        raise DataError(f"the archive from {url} holds no EMNIST image files")
    return target


def cache_key(network: str, import_id: str) -> str:
    return hashlib.sha256(f"{network}:{import_id}:{DEMO_TRAINING_LIMIT}:{DEMO_EPOCHS}".encode()).hexdigest()[:16]


def restore_cached_network(store: GlyphStore, folder: Path) -> str | None:
    """Upload a cached network's artifacts and register it again; None when the cache is empty or broken."""
    item_file = folder / "item.json"
    if not item_file.is_file():
        return None
    from drcaptcha_train.job import register, upload

    item = json.loads(item_file.read_text(encoding="utf-8"))
    files = {path.name: path.read_bytes() for path in (folder / "files").iterdir()}
    artifacts = upload(store, item["network_id"], files)
    register(item["network_id"], item["name"], item["metrics"], artifacts)
    return str(item["network_id"])


def cache_network(store: GlyphStore, folder: Path, network_id: str, metrics: dict[str, Any]) -> None:
    item = NetworkItem.get(network_id)
    files = {name: store.get_bytes(key) for name, key in item.artifact_keys().items()}
    write_cached_network(folder, network_id, item.name, metrics, files)


def write_cached_network(
    folder: Path, network_id: str, name: str, metrics: dict[str, Any], files: dict[str, bytes]
) -> None:
    """The cache format `restore_cached_network` reads: `item.json` (id, name, metrics) and `files/<artifact>`."""
    target = folder / "files"
    target.mkdir(parents=True, exist_ok=True)
    for file_name, content in files.items():
        (target / file_name).write_bytes(content)
    record = {"network_id": network_id, "name": name, "metrics": metrics}
    (folder / "item.json").write_text(json.dumps(record, indent=2), encoding="utf-8")


def quick_network(store: GlyphStore, import_id: str, say: Callable[[str], None]) -> str:
    """A small network for the demo: trained once, then restored from .drcaptcha/cache on later runs."""
    folder = MODEL_CACHE / cache_key(DEMO_NETWORK, import_id)
    restored = restore_cached_network(store, folder)
    if restored is not None:
        say(f"network: restored {restored} from {folder}")
        return restored
    from drcaptcha_train.job import TrainingOptions, run_training

    say(f"network: training {DEMO_NETWORK} on {DEMO_TRAINING_LIMIT:,} glyphs, {DEMO_EPOCHS} epochs (cached after)")
    result = run_training(
        TrainingOptions(network=DEMO_NETWORK, epochs=DEMO_EPOCHS, limit=DEMO_TRAINING_LIMIT, verbose=2), store
    )
    cache_network(store, folder, result.network_id, result.metrics)
    say(f"network: {result.network_id}, test accuracy {result.metrics['accuracy']:.2%}")
    return result.network_id


def committed_ensemble(folder: Path = COMMITTED_NETWORKS) -> list[tuple[Path, float]]:
    """The committed networks' folders and weights, from `folder`/ensemble.json; empty where there is none."""
    index = folder / "ensemble.json"
    if not index.is_file():
        return []
    members: dict[str, float] = json.loads(index.read_text(encoding="utf-8"))["members"]
    return [(folder / name, float(weight)) for name, weight in members.items()]


def register_committed(store: GlyphStore, committed: list[tuple[Path, float]]) -> list[MemberRequest]:
    """Upload and register each committed network, as the training job would have; the ensemble's members."""
    requests = []
    for folder, weight in committed:
        network_id = restore_cached_network(store, folder)
        if network_id is None:
            raise DataError(f"the committed network in {folder} has no item.json and files/")
        requests.append(MemberRequest(network_id=network_id, weight=weight))
    return requests


def demo_members(store: GlyphStore, import_id: str, say: Callable[[str], None]) -> list[MemberRequest]:
    """The committed fully trained networks where the checkout has them, else the quick network."""
    committed = committed_ensemble()
    if committed:
        say(f"networks: the committed {', '.join(folder.name for folder, _ in committed)} ({COMMITTED_NETWORKS})")
        return register_committed(store, committed)
    return [MemberRequest(network_id=quick_network(store, import_id, say), weight=1.0)]


@dataclass
class DemoPlan:
    port: int = 8080
    demo_port: int = 8081
    host: str = "127.0.0.1"


@contextmanager
def running_demo(plan: DemoPlan, say: Callable[[str], None] = print) -> Iterator[dict[str, str]]:
    """Everything the demo runs; yields the URLs and keys to print. Leaving the block stops it all."""
    from drcaptcha_ops.commands.serve import local_service
    from drcaptcha_ops.demo_site import DemoSiteConfig, demo_server

    emnist = find_emnist() or download_emnist(EMNIST_CANDIDATES[-1])
    with ExitStack() as running:
        service = running.enter_context(local_service(plan.host, plan.port))
        serving = threading.Thread(target=service.server.serve_forever, name="demo-gateway", daemon=True)
        serving.start()
        running.callback(service.server.shutdown)
        say(f"stack: gateway at {service.url}")

        report = import_emnist(emnist)
        say(f"glyphs: {report.manifest.splits['train'].count:,} train, {report.manifest.splits['test'].count:,} test")
        store = GlyphStore()
        if report.manifest.removed == 0:
            remove_labels(DEMO_UNLABELLED, progress=False)
        members = demo_members(store, report.manifest.import_id, say)
        extra = activate_demo_ensemble(members, say)

        site = create_site(f"{plan.host}:{plan.demo_port}", accessible=True)
        config = DemoSiteConfig(api_url=service.url, site_key=site.site_key, secret=site.secret, hostname=site.domain)
        demo = demo_server(config, plan.host, plan.demo_port)
        demo_thread = threading.Thread(target=demo.serve_forever, name="demo-site", daemon=True)
        demo_thread.start()
        running.callback(demo.shutdown)
        yield {
            "API and pages": f"{service.url}/",
            "try a captcha": f"{service.url}/try.html",
            "draw a character": f"{service.url}/canvas.html",
            "API docs": f"{service.url}/docs.html",
            "admin dashboard": f"{service.url}/admin/",
            "demo sign-up site": f"http://{plan.host}:{plan.demo_port}/",
            "site key": site.site_key,
            **extra,
        }


def activate_demo_ensemble(members: list[MemberRequest], say: Callable[[str], None]) -> dict[str, str]:
    """The demo's ensemble of `members`, activated; and an admin key for the dashboard."""
    from drcaptcha.admins import create_admin
    from drcaptcha.ensemble_admin import activate_ensemble, create_ensemble

    ensemble = create_ensemble("demo", members, created_by="demo")
    activate_ensemble(ensemble.ensemble_id, by="demo")
    say(f"ensemble: {ensemble.ensemble_id} active, test accuracy {ensemble.accuracy or 0:.2%}")
    admin = create_admin("demo")
    networks = ", ".join(member.network_id for member in members)
    return {"networks": networks, "active ensemble": ensemble.ensemble_id, "admin key": admin.key}
