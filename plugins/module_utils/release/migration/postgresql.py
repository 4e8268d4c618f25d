# Copyright: Contributors to the opsgate.release project
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""PostgreSQL behind the migration seam, with the client tools Debian ships (psql, pg_dump, pg_restore).

Why the client tools rather than a driver: they are on every PostgreSQL host (no Python driver to
install on it), ``pg_dump -Fc`` / ``pg_restore`` are the backup format operators already restore by
hand, and ``psql --single-transaction`` runs a migration file exactly as its author tested it.

How the tools connect: with no ``host`` (or a socket directory as ``host``) over the local socket,
as ``os_user`` through ``runuser`` when the module runs as root (peer authentication, no password
anywhere); with a network ``host`` as ``user``, the password in ``PGPASSWORD`` of the tool's own
environment. No connection value is read from the module's environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from typing import IO

from .database import MIGRATIONS_TABLE, AppliedStep, Backup, Connection, DatabaseError

_CHUNK = 1 << 20
# Where Debian (and most distributions) put the client tools and runuser, whatever PATH the module got.
_SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin"
# How much of a tool's error output an error message keeps: the end, where the failing statement is named.
_ERROR_TAIL = 1500
_TABLE = f"public.{MIGRATIONS_TABLE}"

_CREATE_TABLE = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    app text NOT NULL,
    step_id text NOT NULL,
    phase text NOT NULL,
    sha256 text NOT NULL,
    release_id text NOT NULL,
    token_id text NOT NULL DEFAULT '',
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app, step_id)
);
"""
# \if keeps it one round trip and lets a check run read a database the step never touched.
_SELECT_ROWS = f"""
SELECT to_regclass('{_TABLE}') IS NOT NULL AS opsgate_present \\gset
\\if :opsgate_present
SELECT coalesce(json_agg(json_build_object(
    'app', app, 'step_id', step_id, 'phase', phase, 'sha256', sha256, 'release_id', release_id, 'token_id', token_id,
    'applied_at', to_char(applied_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')) ORDER BY applied_at, step_id), '[]')
  FROM {_TABLE} WHERE app = :'opsgate_app';
\\else
SELECT '[]';
\\endif
"""
_INSERT_ROW = (
    f"INSERT INTO {_TABLE} (app, step_id, phase, sha256, release_id, token_id) "
    "VALUES (:'opsgate_app', :'opsgate_step', :'opsgate_phase', :'opsgate_sha256', :'opsgate_release', :'opsgate_token');\n"
)
_DELETE_STEP = f"DELETE FROM {_TABLE} WHERE app = :'opsgate_app' AND step_id = :'opsgate_step' AND release_id = :'opsgate_release';\n"
_DELETE_RELEASE = f"DELETE FROM {_TABLE} WHERE app = :'opsgate_app' AND release_id = :'opsgate_release';\n"

_WHOLE_DATABASE = "n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'"
_NAMED_SCHEMAS = "n.nspname IN (SELECT json_array_elements_text(:'opsgate_schemas'::json))"
# pg_restore --clean drops only what the backup holds. What a step created after the backup (a table, a view over
# an old table, a foreign key into one, a function, a type, a schema) would survive the restore, or make its DROP
# of an old table fail; so, in the restore's transaction and before it, drop every such object of the backed-up
# schemas whose oid the backup does not know. Owned sequences, extension members and the migrations table stay.
_DROP_NEWER = """
SELECT format('DROP %s IF EXISTS %I.%I CASCADE',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
                             WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, n.nspname, c.relname)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND {scope} AND c.oid <> ALL ({known})
   AND NOT (n.nspname = 'public' AND c.relname = '{table}')
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
UNION ALL
SELECT format('DROP %s IF EXISTS %s CASCADE', CASE p.prokind WHEN 'a' THEN 'AGGREGATE' WHEN 'p' THEN 'PROCEDURE' ELSE 'FUNCTION' END,
              p.oid::regprocedure)
  FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
 WHERE {scope} AND p.oid <> ALL ({known})
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid AND d.deptype IN ('i', 'e'))
UNION ALL
SELECT format('DROP %s IF EXISTS %s CASCADE', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype)
  FROM pg_catalog.pg_type t JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
 WHERE {scope} AND t.oid <> ALL ({known})
   AND (t.typtype IN ('e', 'd', 'r')
        OR (t.typtype = 'c' AND EXISTS (SELECT 1 FROM pg_catalog.pg_class r WHERE r.oid = t.typrelid AND r.relkind = 'c')))
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_type'::regclass AND d.objid = t.oid AND d.deptype IN ('i', 'e'))
{schemas}\\gexec
"""
_DROP_NEWER_SCHEMAS = """UNION ALL
SELECT format('DROP SCHEMA IF EXISTS %I CASCADE', n.nspname)
  FROM pg_catalog.pg_namespace n
 WHERE {scope} AND n.nspname <> 'public' AND n.oid <> ALL ({known})
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')
"""
# "dumpId; catalog-oid object-oid TYPE ...": the oids of what the backup holds.
_TOC_LINE = re.compile(r"^\s*\d+;\s+\d+\s+(\d+)\s")


def find_tool(name: str) -> str:
    path = shutil.which(name, path=os.pathsep.join(filter(None, (os.environ.get("PATH"), _SYSTEM_PATH))))
    if path is None:
        package = "util-linux (runuser)" if name == "runuser" else "the PostgreSQL client tools (Debian: apt-get install postgresql-client)"
        raise DatabaseError(f"{name} is not installed on this host: install {package}")
    return path


def _schema_pattern(name: str) -> str:
    # pg_dump reads -n as a pattern (*, ?, and "." between database and schema); double quotes make it the name.
    return '"' + name.replace('"', '""') + '"'


class PostgreSQL:
    kind = "postgresql"

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    # -- how the tools run ------------------------------------------------------------------------------------

    def local_socket(self) -> bool:
        return not self.connection.host or self.connection.host.startswith("/")

    def runs_as_os_user(self) -> bool:
        """As root on the local socket the tools run as ``os_user`` (peer authentication), like ``sudo -u postgres psql``."""
        return self.local_socket() and os.geteuid() == 0 and self.connection.os_user not in ("", "root")

    def command(self, tool: str, *arguments: str) -> list[str]:
        argv = [find_tool(tool), *arguments]
        if self.runs_as_os_user():
            return [find_tool("runuser"), "-u", self.connection.os_user, "--", *argv]
        return argv

    def environment(self) -> dict[str, str]:
        """The tools' whole environment: nothing from the module's (no stray PGSERVICE, PGHOST or PGPASSWORD)."""
        connection = self.connection
        env = {
            "PATH": os.pathsep.join(filter(None, (os.environ.get("PATH"), _SYSTEM_PATH))),
            "HOME": os.environ.get("HOME", "/"),
            "LANG": "C.UTF-8",
            "LC_MESSAGES": "C",
            "PGCLIENTENCODING": "UTF8",
            "PGAPPNAME": "opsgate-release_migrate",
            "PGCONNECT_TIMEOUT": "30",
            "PGDATABASE": connection.name,
            "PGPORT": str(connection.port),
            "PGUSER": connection.user,
        }
        if connection.host:
            env["PGHOST"] = connection.host
        if connection.password:
            env["PGPASSWORD"] = connection.password
        return env

    def _said(self, raw: bytes) -> str:
        """A tool's error output as the message shows it: its end, without the password should a server ever echo it."""
        text = raw.decode("utf-8", "replace").strip()
        if self.connection.password:
            text = text.replace(self.connection.password, "********")
        return text if len(text) <= _ERROR_TAIL else "..." + text[-_ERROR_TAIL:]

    def psql(self, script: str, variables: Mapping[str, str] | None = None, single_transaction: bool = False, query: bool = False) -> str:
        """Run ``script`` (read by psql from stdin, so psql variables are interpolated) and return what it printed."""
        arguments = ["-X", "-q", "-w", "-v", "ON_ERROR_STOP=1"]
        if single_transaction:
            arguments.append("--single-transaction")
        if query:
            arguments += ["-t", "-A"]
        for name, value in (variables or {}).items():
            arguments += ["-v", f"{name}={value}"]
        arguments += ["-f", "-"]
        try:
            # The module's own AnsibleModule.run_command cannot stream a dump; these helpers run without one, like service.py.
            done = subprocess.run(  # pylint: disable=ansible-bad-function
                self.command("psql", *arguments), input=script.encode("utf-8"), capture_output=True, env=self.environment(), cwd="/", check=False
            )
        except OSError as exc:
            raise DatabaseError(f"cannot run psql: {exc.strerror}") from None
        if done.returncode != 0:
            raise DatabaseError(f"psql exit {done.returncode}: {self._said(done.stderr)}")
        return done.stdout.decode("utf-8", "replace")

    # -- the seam ---------------------------------------------------------------------------------------------

    def ensure_table(self) -> None:
        self.psql(_CREATE_TABLE)

    def applied_steps(self, app: str) -> list[AppliedStep]:
        out = self.psql(_SELECT_ROWS, {"opsgate_app": app}, query=True).strip()
        try:
            rows = json.loads(out)
        except ValueError:
            raise DatabaseError(f"the rows of {_TABLE} could not be read (psql printed {out[:200]!r})") from None
        return [AppliedStep(**{key: str(row.get(key) or "") for key in AppliedStep.__dataclass_fields__}) for row in rows]

    def apply_step(self, sql: str, row: AppliedStep) -> None:
        # The step and its row in one transaction: a step that fails halfway leaves nothing, not even its row.
        script = f"{sql}\n;\n{_INSERT_ROW}"
        variables = {
            "opsgate_app": row.app,
            "opsgate_step": row.step_id,
            "opsgate_phase": row.phase,
            "opsgate_sha256": row.sha256,
            "opsgate_release": row.release_id,
            "opsgate_token": row.token_id,
        }
        self.psql(script, variables, single_transaction=True)

    def run_down(self, sql: str, app: str, step_id: str, release_id: str) -> None:
        self.psql(f"{sql}\n;\n{_DELETE_STEP}", {"opsgate_app": app, "opsgate_step": step_id, "opsgate_release": release_id}, single_transaction=True)

    def dump(self, path: str) -> Backup:
        """pg_dump -Fc streamed into a private file next to ``path``, hashed on the way, renamed into place when complete.

        The tool writes to stdout, so it never needs to write into the backup folder (root's, mode 0700) as ``os_user``.
        """
        arguments = ["-Fc", "-w", *(f"--schema={_schema_pattern(name)}" for name in self.connection.schemas)]
        directory = os.path.dirname(os.path.abspath(path))
        handle, temporary = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
        digest = hashlib.sha256()
        size = 0
        try:
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, "wb") as target, tempfile.TemporaryFile() as errors:
                try:
                    dumper = subprocess.Popen(  # pylint: disable=ansible-bad-function
                        self.command("pg_dump", *arguments), stdout=subprocess.PIPE, stderr=errors, env=self.environment(), cwd="/"
                    )
                except OSError as exc:
                    raise DatabaseError(f"cannot run pg_dump: {exc.strerror}") from None
                if dumper.stdout is None:
                    raise DatabaseError("pg_dump started without an output pipe")
                for chunk in iter(lambda: dumper.stdout.read(_CHUNK), b""):  # type: ignore[union-attr]
                    digest.update(chunk)
                    size += len(chunk)
                    target.write(chunk)
                code = dumper.wait()
                if code != 0:
                    errors.seek(0)
                    raise DatabaseError(f"pg_dump exit {code}: {self._said(errors.read())}")
                target.flush()
                os.fsync(target.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        _fsync_directory(directory)
        return Backup(path, digest.hexdigest(), size)

    def _backup_oids(self, path: str) -> list[int]:
        with open(path, "rb") as source:
            try:
                done = subprocess.run(  # pylint: disable=ansible-bad-function
                    [find_tool("pg_restore"), "-l"], stdin=source, capture_output=True, env=self.environment(), cwd="/", check=False
                )
            except OSError as exc:
                raise DatabaseError(f"cannot run pg_restore: {exc.strerror}") from None
        if done.returncode != 0:
            raise DatabaseError(f"pg_restore -l cannot list the backup {path} (exit {done.returncode}): {self._said(done.stderr)}; nothing was restored")
        oids = set()
        for line in done.stdout.decode("utf-8", "replace").splitlines():
            match = _TOC_LINE.match(line)
            if match:
                oids.add(int(match.group(1)))
        return sorted(oids)

    def restore_script(self, oids: list[int]) -> tuple[bytes, bytes]:
        """What psql runs before and after pg_restore's script, in the same transaction."""
        scope = _NAMED_SCHEMAS if self.connection.schemas else _WHOLE_DATABASE
        known = "'{" + ",".join(str(oid) for oid in oids) + "}'::oid[]"
        # New schemas only when the whole database was backed up: with named schemas, others are not ours to drop.
        schemas = "" if self.connection.schemas else _DROP_NEWER_SCHEMAS.format(scope=scope, known=known)
        prelude = _DROP_NEWER.format(scope=scope, known=known, table=MIGRATIONS_TABLE, schemas=schemas)
        # A backup of named schemas does not hold the migrations table (public): forget this release's rows here.
        return prelude.encode("utf-8"), ("\n" + _DELETE_RELEASE).encode("utf-8")

    def restore(self, path: str, app: str, release_id: str) -> None:
        """pg_restore --clean --if-exists of ``path``, fed to one ``psql --single-transaction`` between the prelude that
        drops what the backup does not know and the removal of the release's rows: all of it, or nothing."""
        prelude, epilogue = self.restore_script(self._backup_oids(path))
        variables = {"opsgate_app": app, "opsgate_release": release_id, "opsgate_schemas": json.dumps(list(self.connection.schemas))}
        arguments = ["-X", "-q", "-w", "-v", "ON_ERROR_STOP=1", "--single-transaction"]
        for name, value in variables.items():
            arguments += ["-v", f"{name}={value}"]
        env = self.environment()
        with open(path, "rb") as source, tempfile.TemporaryFile() as psql_errors, tempfile.TemporaryFile() as restore_errors:
            try:
                loader = subprocess.Popen(  # pylint: disable=ansible-bad-function
                    self.command("psql", *arguments, "-f", "-"), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=psql_errors, env=env, cwd="/"
                )
            except OSError as exc:
                raise DatabaseError(f"cannot run psql: {exc.strerror}") from None
            produced = self._pump(loader, source, restore_errors, prelude, epilogue)
            loaded = loader.wait()
            if produced != 0:
                restore_errors.seek(0)
                raise DatabaseError(f"pg_restore could not read the backup {path} (exit {produced}): {self._said(restore_errors.read())}; nothing was restored")
            if loaded != 0:
                psql_errors.seek(0)
                raise DatabaseError(f"the restore of {path} failed and was rolled back (psql exit {loaded}): {self._said(psql_errors.read())}")

    def _pump(self, loader: subprocess.Popen[bytes], source: IO[bytes], errors: IO[bytes], prelude: bytes, epilogue: bytes) -> int:
        """Feed prelude, pg_restore's script and epilogue to ``loader``; returns pg_restore's exit code.

        When pg_restore fails, psql is terminated before it reads the end of its input: a cut-off script must never be
        committed, and a terminated psql commits nothing (the server rolls the open transaction back).
        """
        if loader.stdin is None:
            raise DatabaseError("psql started without an input pipe")
        try:
            producer = subprocess.Popen(  # pylint: disable=ansible-bad-function
                [find_tool("pg_restore"), "--clean", "--if-exists", "-f", "-"],
                stdin=source,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=self.environment(),
                cwd="/",
            )
        except (OSError, DatabaseError):
            loader.terminate()
            raise
        if producer.stdout is None:
            raise DatabaseError("pg_restore started without an output pipe")
        try:
            loader.stdin.write(prelude)
            for chunk in iter(lambda: producer.stdout.read(_CHUNK), b""):  # type: ignore[union-attr]
                loader.stdin.write(chunk)
            produced = producer.wait()
            if produced != 0:
                loader.terminate()
                return produced
            loader.stdin.write(epilogue)
        except BrokenPipeError:
            # psql stopped at an error and rolled back; its own message says which statement.
            producer.terminate()
            producer.wait()
            return 0
        finally:
            producer.stdout.close()
            with contextlib.suppress(BrokenPipeError):
                loader.stdin.close()
        return 0


def _fsync_directory(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
