# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Step 1 of a deploy on a host: back up, then make ``releases/<release_id>`` complete, or leave nothing behind.

Before any hook of the manifest can run, ``backup_paths`` and the absolute config files are
copied into ``backups/<release_id>`` (the ``stage`` ledger line says ``backup: true``), so the
revert after a failed deploy, and a later rollback, restore what the hooks changed too.
The release is unpacked into ``releases/.staging-<id>`` and renamed into place only when
complete, so a full disk or a killed run never leaves a half release that looks whole.
``current`` is not touched here.
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from .artifact import ArtifactError, place_artifact
from .backup import BackupError, create_backup, restore_backup
from .digest import file_sha256
from .layout import MARKER, Layout, LayoutError, current_release, ensure_layout, leftover_staging, locked, read_marker
from .ledger import DEPLOYING, FAILED, GOOD, LedgerEntry, append_entry, interrupted_releases, last_entry, latest_states, read_ledger, utc_now


class StageError(Exception):
    pass


@dataclass(frozen=True)
class ReleaseIdentity:
    """Who changes what: copied into every ledger line of this run."""

    release_id: str
    app: str
    version: str
    artifact_sha256: str
    change_id: str = ""
    token_id: str = ""
    who: str = ""

    def entry(self, state: str, event: str, message: str = "", previous: str = "", release_id: str | None = None, **extra: Any) -> LedgerEntry:
        return LedgerEntry(
            release_id=release_id or self.release_id,
            state=state,
            event=event,
            at=utc_now(),
            version=self.version if release_id in (None, self.release_id) else "",
            app=self.app,
            change_id=self.change_id,
            token_id=self.token_id,
            who=self.who,
            host_user=host_user(),
            artifact_sha256=self.artifact_sha256 if release_id in (None, self.release_id) else "",
            previous=previous or "",
            message=message,
            extra=extra,
        )


def host_user() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


@dataclass(frozen=True)
class Ownership:
    owner: str = ""
    group: str = ""
    dir_mode: int = 0o755
    file_mode: int | None = None
    config_mode: int = 0o640

    def ids(self) -> tuple[int, int]:
        """uid/gid to give files (-1: leave as created); refuses what this account cannot do."""
        uid = gid = -1
        if self.owner:
            try:
                uid = pwd.getpwnam(self.owner).pw_uid
            except KeyError:
                raise StageError(f"owner {self.owner!r} does not exist on this host") from None
        if self.group:
            try:
                gid = grp.getgrnam(self.group).gr_gid
            except KeyError:
                raise StageError(f"group {self.group!r} does not exist on this host") from None
        if os.geteuid() != 0 and uid not in (-1, os.geteuid()):
            raise StageError(f"running as {host_user()}, which cannot give files to owner {self.owner!r}; run as that account or as root")
        return uid, gid


@dataclass(frozen=True)
class StageRequest:
    base_dir: str
    identity: ReleaseIdentity
    artifacts: list[dict[str, Any]]
    config_files: list[dict[str, Any]] = field(default_factory=list)
    shared_paths: list[str] = field(default_factory=list)
    ownership: Ownership = field(default_factory=Ownership)
    service: dict[str, Any] = field(default_factory=dict)
    health: dict[str, Any] = field(default_factory=dict)
    after_stage: list[str] = field(default_factory=list)
    backup_paths: list[str] = field(default_factory=list)


def paths_to_back_up(backup_paths: list[str], config_files: list[dict[str, Any]]) -> list[str]:
    """``backup_paths`` plus every config file with an absolute ``dest``, each once, in that order."""
    absolute = [item["dest"] for item in config_files if os.path.isabs(item["dest"])]
    return list(dict.fromkeys([*backup_paths, *absolute]))


def backup_of_this_deploy(entries: list[LedgerEntry], release_id: str) -> bool:
    """Whether the release's last ledger line is a ``stage`` that took its backup: no switch and no revert since."""
    last = last_entry(entries, release_id)
    return last is not None and last.state == DEPLOYING and last.event == "stage" and bool(last.extra.get("backup"))


def run_hooks(commands: list[str], cwd: str, label: str) -> None:
    """Run manifest hooks with the release directory as working directory; the first failure stops."""
    for command in commands:
        done = subprocess.run(  # pylint: disable=ansible-bad-function
            command, shell=True, cwd=cwd, capture_output=True, text=True, check=False, env={**os.environ, "RELEASE_DIR": cwd}
        )
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip()[-400:]
            raise StageError(f"{label} hook {command!r} exited with {done.returncode}: {tail}")


def _relative_configs(request: StageRequest) -> list[dict[str, Any]]:
    configs = [item for item in request.config_files if not os.path.isabs(item["dest"])]
    for item in configs:
        if os.path.normpath(item["dest"]).startswith(".."):
            raise StageError(f"config_files dest {item['dest']!r} leaves the release directory")
    return configs


def _content_sha256(content: str) -> str:
    import hashlib

    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def _write_file(path: str, content: str, mode: int, ids: tuple[int, int]) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(content)
    os.chmod(path, mode)
    if ids != (-1, -1):
        os.chown(path, *ids)


def _apply_ownership(root: str, ownership: Ownership, ids: tuple[int, int], config_paths: set[str]) -> None:
    for current_root, dirs, files in os.walk(root):
        os.chmod(current_root, ownership.dir_mode)
        if ids != (-1, -1):
            os.lchown(current_root, *ids)
        for name in dirs + files:
            path = os.path.join(current_root, name)
            if ids != (-1, -1):
                os.lchown(path, *ids)
            if os.path.islink(path) or os.path.isdir(path):
                continue
            if path in config_paths:
                os.chmod(path, ownership.config_mode)
            elif ownership.file_mode is not None:
                os.chmod(path, ownership.file_mode)


def _link_shared(layout: Layout, staging: str, shared_paths: list[str], ids: tuple[int, int]) -> None:
    for rel in shared_paths:
        norm = os.path.normpath(rel)
        if os.path.isabs(rel) or norm.startswith(".."):
            raise StageError(f"shared_paths entry {rel!r} must be relative and stay inside the release")
        target = os.path.join(layout.shared, norm)
        if not os.path.exists(target):
            os.makedirs(target, exist_ok=True)
            if ids != (-1, -1):
                os.chown(target, *ids)
        link = os.path.join(staging, norm)
        if os.path.isdir(link) and not os.path.islink(link):
            shutil.rmtree(link)
        elif os.path.lexists(link):
            os.unlink(link)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(os.path.relpath(target, os.path.dirname(link)), link)


def _clean_interrupted(layout: Layout, request: StageRequest, entries: list[LedgerEntry], current: str | None, check_mode: bool) -> list[str]:
    """Mark releases a killed run left ``deploying`` as failed and remove their directories.

    The release being deployed now is left alone: this run finishes it.
    """
    handled = []
    for release_id in interrupted_releases(entries):
        if release_id == request.identity.release_id:
            continue
        handled.append(release_id)
        if check_mode:
            continue
        note = "interrupted deploy found by a later run: it never passed its health check"
        if release_id != current:
            shutil.rmtree(layout.release(release_id), ignore_errors=True)
            note += "; its directory was removed"
        append_entry(layout.ledger, request.identity.entry(FAILED, "interrupted", note, release_id=release_id))
    if not check_mode:
        for path in leftover_staging(layout):
            if path != layout.staging(request.identity.release_id):
                shutil.rmtree(path, ignore_errors=True)
    return handled


def _check_existing(layout: Layout, request: StageRequest, marker: dict[str, Any]) -> None:
    identity = request.identity
    if marker.get("artifact_sha256") != identity.artifact_sha256:
        raise StageError(
            f"releases/{identity.release_id} exists with artifact sha256 {marker.get('artifact_sha256')}, this run has {identity.artifact_sha256}; "
            "a different artifact needs a new release id"
        )
    recorded = {item["dest"]: item["sha256"] for item in marker.get("config_files", [])}
    wanted = {item["dest"]: _content_sha256(item["content"]) for item in _relative_configs(request)}
    if recorded != wanted:
        differing = sorted(dest for dest in set(recorded) | set(wanted) if recorded.get(dest) != wanted.get(dest))
        raise StageError(
            f"releases/{identity.release_id} exists with other config ({', '.join(differing)}); a release is never changed in place, "
            "a config change needs a new change id"
        )


def stage_release(request: StageRequest, check_mode: bool = False) -> dict[str, Any]:
    layout = Layout(request.base_dir)
    identity = request.identity
    result: dict[str, Any] = {"changed": False, "release_id": identity.release_id, "release_dir": layout.release(identity.release_id)}
    if not os.path.isdir(layout.base) and check_mode:
        result.update(changed=True, staged=True, current=None, interrupted=[], msg=f"would create {layout.base} and stage {identity.release_id}")
        return result
    ids = request.ownership.ids()
    if not check_mode:
        ensure_layout(layout, request.ownership.dir_mode)
        if ids != (-1, -1):
            for path in (layout.base, layout.releases, layout.shared, layout.backups, layout.run):
                os.chown(path, *ids)
    with locked(layout) if not check_mode else _no_lock():
        entries = read_ledger(layout.ledger)
        current = current_release(layout)
        result["current"] = current
        result["interrupted"] = _clean_interrupted(layout, request, entries, current, check_mode)
        if result["interrupted"]:
            result["changed"] = True
        state = latest_states(entries).get(identity.release_id)
        marker = read_marker(layout, identity.release_id)
        # A release that will go live gets its backup now, before after_stage and before_switch run.
        going_live = current != identity.release_id
        if going_live:
            result.update(backup_dir=layout.backup(identity.release_id), backed_up=paths_to_back_up(request.backup_paths, request.config_files))
        if marker is not None:
            _check_existing(layout, request, marker)
            result["staged"] = False
            if current == identity.release_id and state is not None and state.state == GOOD:
                result["msg"] = f"{identity.release_id} is current and good: nothing to do"
                return result
            if going_live:
                result["changed"] = True
                if not check_mode:
                    _back_up(layout, request, result["backed_up"])
                    note = "release directory already present; backup taken"
                    append_entry(layout.ledger, identity.entry(DEPLOYING, "stage", note, previous=current or "", backup=True))
            elif state is None or state.state != DEPLOYING:
                result["changed"] = True
                if not check_mode:
                    append_entry(layout.ledger, identity.entry(DEPLOYING, "stage", "release directory already present"))
            result["msg"] = f"{identity.release_id} is already staged"
            return result
        result.update(changed=True, staged=True)
        if check_mode:
            result["msg"] = f"would stage {identity.release_id} from {len(request.artifacts)} artifact(s)"
            return result
        missing = [artifact["name"] for artifact in request.artifacts if not artifact.get("src")]
        if missing:
            raise StageError(f"artifacts {', '.join(missing)} have no source on the host")
        if going_live:
            _back_up(layout, request, result["backed_up"])
        append_entry(layout.ledger, identity.entry(DEPLOYING, "stage", previous=current or "", **({"backup": True} if going_live else {})))
        progress = _Progress()
        try:
            result["files"] = _fill_staging(layout, request, ids, progress)
        except (OSError, ArtifactError, StageError, LayoutError) as exc:
            shutil.rmtree(layout.staging(identity.release_id), ignore_errors=True)
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            where = f" ({exc.filename})" if isinstance(exc, OSError) and exc.filename else ""
            message = f"staging failed: {reason}{where}; current untouched ({current or 'none'})"
            if going_live:
                message += _undo_hooks(layout, identity.release_id, progress.hooks_started)
            try:
                append_entry(layout.ledger, identity.entry(FAILED, "stage", message, previous=current or ""))
            except Exception as ledger_exc:  # a full disk may refuse the ledger line too
                message += f"; the ledger could not record it ({ledger_exc})"
            raise StageError(message) from None
        result["msg"] = f"staged {identity.release_id}"
        return result


@dataclass
class _Progress:
    """How far the staging got: once a hook has started, the backed-up paths may have changed."""

    hooks_started: bool = False


def _back_up(layout: Layout, request: StageRequest, paths: list[str]) -> None:
    try:
        create_backup(paths, layout.backup(request.identity.release_id))
    except (BackupError, OSError) as exc:
        raise StageError(f"backup before any hook failed: {exc}; nothing ran, current untouched") from None


def _undo_hooks(layout: Layout, release_id: str, hooks_started: bool) -> str:
    """After a failed stage: restore what an after_stage hook may have changed, then drop the backup of a release that never went live."""
    backup = layout.backup(release_id)
    note = ""
    if hooks_started:
        try:
            restored = restore_backup(backup)
            note = f"; backup restored: {', '.join(restored) or 'nothing differed'}"
        except (BackupError, OSError) as exc:
            return f"; RESTORING THE BACKUP FAILED ({exc}); it is kept in {backup}"
    shutil.rmtree(backup, ignore_errors=True)
    return note


class _no_lock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def _fill_staging(layout: Layout, request: StageRequest, ids: tuple[int, int], progress: _Progress) -> int:
    identity = request.identity
    staging = layout.staging(identity.release_id)
    if os.path.lexists(staging):
        shutil.rmtree(staging)
    os.makedirs(staging, mode=request.ownership.dir_mode)
    files = 0
    for artifact in request.artifacts:
        destination = os.path.normpath(os.path.join(staging, artifact.get("dest") or "."))
        if not destination.startswith(staging):
            raise StageError(f"artifact {artifact['name']}: dest {artifact.get('dest')!r} leaves the release directory")
        files += place_artifact(artifact["src"], artifact["sha256"], destination, bool(artifact.get("unpack", True)), artifact["name"])
    config_paths = set()
    recorded = []
    for item in _relative_configs(request):
        path = os.path.join(staging, os.path.normpath(item["dest"]))
        _write_file(path, item["content"], request.ownership.config_mode, ids)
        config_paths.add(path)
        recorded.append({"dest": item["dest"], "sha256": _content_sha256(item["content"])})
    _link_shared(layout, staging, request.shared_paths, ids)
    progress.hooks_started = bool(request.after_stage)
    run_hooks(request.after_stage, staging, "after_stage")
    _apply_ownership(staging, request.ownership, ids, config_paths)
    marker = {
        "release_id": identity.release_id,
        "app": identity.app,
        "version": identity.version,
        "artifact_sha256": identity.artifact_sha256,
        "artifacts": [{"name": a["name"], "sha256": a["sha256"]} for a in request.artifacts],
        "change_id": identity.change_id,
        "token_id": identity.token_id,
        "config_files": recorded,
        "shared_paths": list(request.shared_paths),
        "service": request.service,
        "health": request.health,
    }
    marker_path = os.path.join(staging, MARKER)
    with open(marker_path, "w", encoding="utf-8") as handle:
        json.dump(marker, handle, sort_keys=True, indent=1)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(marker_path, 0o644)
    if ids != (-1, -1):
        os.chown(marker_path, *ids)
    os.rename(staging, layout.release(identity.release_id))
    return files


def marker_sha256(layout: Layout, release_id: str) -> str:
    return file_sha256(os.path.join(layout.release(release_id), MARKER))
