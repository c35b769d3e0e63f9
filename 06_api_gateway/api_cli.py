"""The command line of chapter 06 (``make api``, ``make destroy``): print the plan, then create or delete the API.

    python solutions/06_api_gateway/api_cli.py create  [--region R] [--name N] [--burst B] [--rate R] [--dry-run]
                                                       [--auth none|iam|jwt] [--jwt-issuer URL] [--jwt-audience ID ...]
                                                       [--cors-origin ORIGIN ...]
    python solutions/06_api_gateway/api_cli.py destroy [--region R] [--name N] [--dry-run]

``create`` runs ``api.create`` and prints the invoke URL (with ``--cors-origin``, the web page's address for it too);
``destroy`` runs ``destroy_api.destroy`` (``make destroy`` runs it before chapter 05's). Credentials, region and
error messages are those of ``tutorial_support.deployment``.
"""

from __future__ import annotations

import argparse
import sys

from api import AUTH_MODES, DEFAULT_BURST, DEFAULT_RATE, ROUTE_KEY, STAGE, api_name, cors_configuration, create
from destroy_api import destroy

from tutorial_support.deployment import ALIAS, PROJECT_TAGS, add_common_arguments, run_safely, session_for


def main(argv=None) -> int:
    """Parse ``argv`` (default: the command line) and run the command. Returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("create", help="create or update the HTTP API and print its invoke URL")
    down = commands.add_parser("destroy", help="delete the HTTP API")
    for sub in (up, down):
        add_common_arguments(sub)
    up.add_argument("--burst", type=int, help=f"requests at once before throttling (default: {DEFAULT_BURST}, "
                                              "fewer when the function has no reserved concurrency)")
    up.add_argument("--rate", type=float, help=f"requests a second, on average (default: {DEFAULT_RATE:g}, less when "
                                               "the function has no reserved concurrency)")
    up.add_argument("--auth", choices=tuple(AUTH_MODES), default="none",
                    help="who may call POST /predict: anyone (none), SigV4-signed IAM principals allowed "
                         "execute-api:Invoke (iam), holders of a JWT from --jwt-issuer for --jwt-audience (jwt)")
    up.add_argument("--jwt-issuer", metavar="URL", help="jwt: the token issuer, e.g. "
                    "https://cognito-idp.REGION.amazonaws.com/POOL_ID")
    up.add_argument("--jwt-audience", metavar="ID", action="append", default=[],
                    help="jwt: an accepted audience (aud or client_id claim); repeat for several")
    up.add_argument("--cors-origin", metavar="ORIGIN", action="append", default=[],
                    help="let the web page served from ORIGIN (scheme://host[:port], e.g. http://127.0.0.1:8080 for "
                         "make serve) call POST /predict from a browser; repeat for several; without it, the API "
                         "has no CORS (a rerun without it removes it). Not with --auth iam; no wildcard")
    args = parser.parse_args(argv)
    cors = None
    if args.command == "create":
        if args.auth == "jwt":
            missing = [option for option, value in (("--jwt-issuer", args.jwt_issuer),
                                                    ("--jwt-audience", args.jwt_audience)) if not value]
            if missing:
                parser.error(f"--auth jwt needs {' and '.join(missing)} (the token issuer's URL and an audience: "
                             "make api AUTH=jwt ARGS='--jwt-issuer URL --jwt-audience ID')")
            if not args.jwt_issuer.startswith("https://"):
                parser.error(f"--jwt-issuer must be an https:// URL, got {args.jwt_issuer!r}")
        elif args.jwt_issuer or args.jwt_audience:
            parser.error(f"--jwt-issuer and --jwt-audience go with --auth jwt, not --auth {args.auth}")
        try:
            cors = cors_configuration(args.cors_origin, args.auth)
        except ValueError as error:
            parser.error(str(error))

    def command() -> int:
        session = session_for(args.region)
        if args.command == "destroy":
            removed = destroy(session, args.name, args.dry_run)
            print("\n".join(removed) if removed else f"No API of {args.name!r} to remove in {session.region_name}.")
            return 0
        throttle = (f"{args.rate if args.rate is not None else DEFAULT_RATE:g} requests/s, bursts of "
                    f"{args.burst if args.burst is not None else DEFAULT_BURST}"
                    + ("" if args.rate is not None and args.burst is not None
                       else "; lower where the function has no reserved concurrency"))
        print(f"Plan: in {session.region_name}, the HTTP API {api_name(args.name)} (tagged "
              + ", ".join(f"{k}={v}" for k, v in PROJECT_TAGS.items())
              + f"), if absent; route {ROUTE_KEY} to {args.name}:{ALIAS} (Lambda proxy, payload 2.0), auth "
              f"{args.auth} ({AUTH_MODES[args.auth]['who']}); stage {STAGE} (auto-deploy, " + throttle
              + "); CORS " + (f"for {', '.join(cors['AllowOrigins'])} ({', '.join(cors['AllowMethods'])}, "
                             f"{', '.join(cors['AllowHeaders'])})" if cors else "none")
              + f"; permission for this API only to invoke {args.name}:{ALIAS}.")
        if args.dry_run:
            print("Dry run: nothing was changed.")
            return 0
        url = create(session, args.name, args.burst, args.rate, args.auth, args.jwt_issuer, args.jwt_audience,
                     args.cors_origin)
        how = {"none": "", "iam": " --auth iam", "jwt": " --token TOKEN"}[args.auth]
        print(f"Invoke URL: {url}\nTry it: python solutions/06_api_gateway/predict.py {url} IMAGE_URL{how}")
        for origin in cors["AllowOrigins"] if cors else ():
            print(f"The web page from {origin} (make serve's, or yours at its path): {origin}/?endpoint={url}")
        return 0

    return run_safely(command)


if __name__ == "__main__":
    sys.exit(main())
