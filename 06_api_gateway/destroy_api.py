"""Chapter 06's teardown (``make destroy`` runs it before chapter 05's): the HTTP API and its permission on the alias.

The API is deleted only when it carries this project's tag (``api.find_api``); the permission is the statement
``api.PERMISSION_ID`` of the alias's resource-based policy.
"""

from __future__ import annotations

import json

from api import PERMISSION_ID, api_name, find_api

from tutorial_support.deployment import ALIAS


def destroy(session, name: str, dry_run: bool = False) -> list[str]:
    """Delete the HTTP API of deployment ``name`` (when tagged as this project's) and its permission on the alias.

    Returns:
        one line per resource removed (or that would be, with ``dry_run``).
    """
    apigw, lambda_client = session.client("apigatewayv2"), session.client("lambda")
    done, verb = [], "would remove" if dry_run else "removed"
    api = find_api(apigw, api_name(name))
    if api is not None:
        if not dry_run:
            apigw.delete_api(ApiId=api["ApiId"])
        done.append(f"{verb} HTTP API {api_name(name)} ({api['ApiEndpoint']})")
    try:
        if not dry_run:
            lambda_client.remove_permission(FunctionName=name, Qualifier=ALIAS, StatementId=PERMISSION_ID)
        else:
            policy = json.loads(lambda_client.get_policy(FunctionName=name, Qualifier=ALIAS)["Policy"])
            if not any(s.get("Sid") == PERMISSION_ID for s in policy["Statement"]):
                return done
        done.append(f"{verb} permission {PERMISSION_ID} of {name}:{ALIAS}")
    except lambda_client.exceptions.ResourceNotFoundException:
        pass
    return done

