"""PACS commands of the command line: ``pacs query | retrieve | send`` and the server settings.

    anomaly-studio pacs query    (--server NAME | --url URL) [filters] [--study UID] [--json]
    anomaly-studio pacs retrieve (--server NAME | --url URL) --study UID [--series UID ...] --workspace W [--json]
    anomaly-studio pacs send     (--server NAME | --url URL) --case ID --workspace W [--model M] [--only seg,pmap,sr] [--dry-run] [--json]
    anomaly-studio pacs servers | add-server NAME --url URL [...] [--secret-stdin] | remove-server NAME

A password or token is never an argument (it would show in the process list): it comes from the
stored PACS secrets, an environment variable named with ``--password-env``, or standard input.
Bad input and server errors exit with code 2 and one line on stderr.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from core.errors import InputError

_SERVER_HELP = "a server from the settings (see 'pacs servers')"


def _server_options(p) -> None:
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--server", "-s", help=_SERVER_HELP)
    where.add_argument("--url", help="a DICOMweb base URL, e.g. https://pacs.example.org/dicom-web")
    p.add_argument("--username", help="basic auth user for --url")
    p.add_argument("--password-env", metavar="VAR", help="environment variable holding the password (basic) or token (--bearer)")
    p.add_argument("--bearer", action="store_true", help="with --url: send the secret as a bearer token")
    p.add_argument("--ca-bundle", type=Path, help="with --url: PEM file of the CA certificates to trust")
    p.add_argument("--no-verify-tls", action="store_true", help="with --url: do not verify the TLS certificate (not recommended)")
    p.add_argument("--json", action="store_true")


def add_pacs_commands(sub) -> None:
    pacs = sub.add_parser("pacs", help="query, retrieve from and send results to a PACS over DICOMweb")
    psub = pacs.add_subparsers(dest="pacs_command", required=True)
    q = psub.add_parser("query", help="list studies (QIDO-RS), or the series of one study with --study")
    _server_options(q)
    q.add_argument("--patient-id", default="")
    q.add_argument("--patient-name", default="", help="matched anywhere in the name; * and ? are wildcards")
    q.add_argument("--from", dest="date_from", help="study date from, YYYY-MM-DD")
    q.add_argument("--to", dest="date_to", help="study date to, YYYY-MM-DD")
    q.add_argument("--modality", "-m", action="append", default=[], help="OP, OPT, MR, ... (repeatable)")
    q.add_argument("--description", default="", help="study description, matched anywhere")
    q.add_argument("--limit", type=int, default=200)
    q.add_argument("--study", help="list the series of this study instead")
    r = psub.add_parser("retrieve", help="retrieve series (WADO-RS) and import them into a workspace")
    _server_options(r)
    r.add_argument("--study", required=True, help="StudyInstanceUID")
    r.add_argument("--series", action="append", default=[], help="SeriesInstanceUID (repeatable; default: every image series)")
    r.add_argument("--workspace", "-w", type=Path, required=True)
    s = psub.add_parser("send", help="send a case's labels, heatmap and result to the PACS (STOW-RS)")
    _server_options(s)
    s.add_argument("--case", required=True)
    s.add_argument("--workspace", "-w", type=Path, required=True)
    s.add_argument("--model", help="the method whose result to send (default: the newest active result)")
    s.add_argument("--only", default="seg,pmap,sr", help="comma-separated subset of seg,pmap,sr")
    s.add_argument("--dry-run", action="store_true", help="build and check the objects, show them, send nothing")
    psub.add_parser("servers", help="list the PACS servers in the settings").add_argument("--json", action="store_true")
    a = psub.add_parser("add-server", help="add or replace a PACS server in the settings")
    a.add_argument("name")
    a.add_argument("--url", required=True)
    a.add_argument("--auth", choices=["none", "basic", "bearer"], default="none")
    a.add_argument("--username")
    a.add_argument("--secret-stdin", action="store_true", help="read the password or token from standard input (stored owner-only)")
    a.add_argument("--ca-bundle", type=Path)
    a.add_argument("--no-verify-tls", action="store_true")
    a.add_argument("--timeout", type=float, default=30.0)
    psub.add_parser("remove-server", help="remove a PACS server and its stored secret").add_argument("name")


def _print(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, ensure_ascii=False) + "\n")


def _client(args):
    from core.pacs.client import PacsClient
    from core.pacs.credentials import get_secret
    from core.settings import PacsServer, Settings

    env_secret = None
    if args.password_env:
        env_secret = os.environ.get(args.password_env)
        if not env_secret:
            raise InputError(None, f"environment variable {args.password_env} is not set")
    if args.server:
        server = Settings.load().pacs_server(args.server)
        if server is None:
            raise InputError(None, f"no PACS server '{args.server}' in the settings; add it with 'anomaly-studio pacs add-server'")
        return PacsClient(server, env_secret or (get_secret(server.name) if server.auth != "none" else None))
    auth = "bearer" if args.bearer else "basic" if args.username else "none"
    try:
        server = PacsServer(
            "command-line",
            args.url,
            auth=auth,
            username=args.username,
            verify_tls=not args.no_verify_tls,
            ca_bundle=str(args.ca_bundle) if args.ca_bundle else None,
        )
    except ValueError as exc:
        raise InputError(None, str(exc)) from None
    return PacsClient(server, env_secret)


def _user() -> str:
    from core.settings import Settings

    return Settings.load().resolved_user()


def cmd_query(args) -> int:
    from core.pacs.query import StudyQuery

    client = _client(args)
    if args.study:
        rows = client.search_series(args.study)
        if args.json:
            _print({"server": client.name, "study_uid": args.study, "series": [r.to_json() for r in rows]})
        else:
            for r in rows:
                print(
                    f"{r.modality:<5} #{r.number if r.number is not None else '-':<4} {r.instances or '?':>5} inst.  {r.description:<32} {r.series_uid}"
                )
        return 0
    query = StudyQuery(
        patient_id=args.patient_id,
        patient_name=args.patient_name,
        date_from=args.date_from,
        date_to=args.date_to,
        modalities=tuple(args.modality),
        description=args.description,
        limit=args.limit,
    )
    rows = client.search_studies(query)
    if args.json:
        _print({"server": client.name, "studies": [r.to_json() for r in rows]})
    else:
        print(f"{len(rows)} stud{'y' if len(rows) == 1 else 'ies'} on {client.name}")
        for r in rows:
            mods = "/".join(r.modalities) or "-"
            print(f"{r.date_text or '-':<10}  {r.patient_id:<14} {r.patient_name:<22} {mods:<10} {r.description:<28} {r.study_uid}")
    return 0


def cmd_retrieve(args) -> int:
    from core.pacs.retrieve import retrieve_study
    from core.workspace import Workspace

    client = _client(args)
    ws = Workspace.open(args.workspace, create=True)
    try:
        progress = None if args.json else _progress
        report = retrieve_study(ws, client, args.study, args.series or None, user=_user(), progress=progress)
    finally:
        ws.close()
    if args.json:
        _print(report.to_json())
    else:
        for e in report.imported:
            print(f"  + {e['case']:<28} {e['modality']:<4} {e['image']}")
        for d in report.duplicates:
            print(f"  = series {d['series_uid']} ({d['modality']}) is already case {d['case']}")
        for s in report.skipped:
            print(f"  - series {s['series_uid']} ({s['modality']}): {s['reason']}")
        for w in report.warnings:
            print(f"  ! {w}")
    report.raise_for_problems()  # refused series or missing instances: exit 2 with one line
    return 0


def cmd_send(args) -> int:
    from core.pacs.send import plan_send, send
    from core.workspace import Workspace

    include = tuple(k.strip() for k in args.only.split(",") if k.strip())
    ws = Workspace.open(args.workspace)
    try:
        plan = plan_send(ws, args.case, model=args.model, include=include)
        if args.dry_run:
            _print(plan.to_json()) if args.json else print("\n".join(["Would send:"] + [f"  {line}" for line in plan.lines()]))
            return 0
        client = _client(args)
        if not args.json:
            sys.stderr.write(
                "\n".join([f"Sending to {client.name} ({client.server.url}):"] + [f"  {line}" for line in plan.lines()]) + "\n"
            )
        result = send(ws, client, plan, user=_user())
    finally:
        ws.close()
    if args.json:
        _print(result)
    else:
        print(f"Sent {len(result['sent'])} object(s) of case {args.case} to {result['server']}")
    return 0


def cmd_servers(args) -> int:
    from dataclasses import asdict

    from core.settings import Settings

    servers = Settings.load().pacs_servers
    if args.json:
        _print({"servers": [asdict(s) for s in servers]})
    else:
        for s in servers:
            tls = "" if s.url.startswith("http:") else (" (TLS not verified)" if not s.verify_tls else "")
            print(f"{s.name:<20} {s.url}  auth={s.auth}{' user=' + s.username if s.username else ''}{tls}")
    return 0


def cmd_add_server(args) -> int:
    from core.pacs.credentials import set_secret
    from core.settings import PacsServer, Settings

    try:
        server = PacsServer(
            args.name,
            args.url,
            auth=args.auth,
            username=args.username,
            verify_tls=not args.no_verify_tls,
            ca_bundle=str(args.ca_bundle) if args.ca_bundle else None,
            timeout_s=args.timeout,
        )
    except ValueError as exc:
        raise InputError(None, str(exc)) from None
    if args.ca_bundle and not args.ca_bundle.is_file():
        raise InputError(args.ca_bundle, "CA bundle file does not exist")
    secret = sys.stdin.readline().rstrip("\r\n") if args.secret_stdin else None
    if args.secret_stdin and not secret:
        raise InputError(None, "no secret on standard input")
    settings = Settings.load()
    settings.put_pacs_server(server)
    settings.save()
    if secret is not None:
        set_secret(server.name, secret)
    print(f"PACS server '{server.name}' saved ({server.url}, auth {server.auth}{', secret stored' if secret else ''})")
    return 0


def cmd_remove_server(args) -> int:
    from core.pacs.credentials import set_secret
    from core.settings import Settings

    settings = Settings.load()
    if not settings.remove_pacs_server(args.name):
        raise InputError(None, f"no PACS server '{args.name}' in the settings")
    settings.save()
    set_secret(args.name, None)
    print(f"PACS server '{args.name}' removed")
    return 0


def _progress(done: int, total: int, message: str) -> None:
    from core.runtime.progress import stderr_progress

    stderr_progress(done, total, message)
    sys.stderr.flush()


_PACS = {
    "query": cmd_query,
    "retrieve": cmd_retrieve,
    "send": cmd_send,
    "servers": cmd_servers,
    "add-server": cmd_add_server,
    "remove-server": cmd_remove_server,
}


def cmd_pacs(args) -> int:
    return _PACS[args.pacs_command](args)


PACS_COMMANDS = {"pacs": cmd_pacs}
