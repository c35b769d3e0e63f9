"""Chapter 05's releases: ``make versions`` lists the function's published versions, the image each one runs and
which one the alias ``live`` serves; ``make rollback [VERSION=N]`` points ``live`` back at an older version (by
default the one before the version it serves now).

A version runs the image it was published with, pinned by digest in ECR. If that image has been deleted (by hand, or
by a lifecycle policy), Lambda cannot run the version: it enters the Failed state
(https://docs.aws.amazon.com/lambda/latest/dg/invocation-images.html). So ``rollback`` first checks that the
version's image is still in its repository (``ecr.describe_images`` by digest) and that the version is not Failed,
and refuses with the reason otherwise, leaving ``live`` where it was. Chapter 06's API invokes ``live``, so a
rollback applies to it at once.
"""

from __future__ import annotations

import re

from tutorial_support.deployment import ALIAS, DeployError

DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
NO_CANARY = {"AdditionalVersionWeights": {}}  # the alias's RoutingConfig that sends all its traffic to its version


def published_versions(lambda_client, name: str) -> list[str]:
    """The published versions of function ``name`` (not ``$LATEST``), oldest first.

    Raises:
        DeployError: there is no function ``name`` (run ``make deploy`` first).
    """
    try:
        pages = list(lambda_client.get_paginator("list_versions_by_function").paginate(FunctionName=name))
    except lambda_client.exceptions.ResourceNotFoundException:
        raise DeployError(f"there is no function {name!r} here: run `make deploy` first (same NAME= and "
                          "REGION=).") from None
    versions = [v["Version"] for page in pages for v in page["Versions"] if v["Version"] != "$LATEST"]
    return sorted(versions, key=int)


def canary_weights(lambda_client, name: str) -> dict[str, float]:
    """The versions ``live`` sends a share of its traffic to besides the one it serves (chapter 07's ``make
    canary``: ``RoutingConfig.AdditionalVersionWeights``, ``{version: share}``); empty when no canary runs or there is
    no alias."""
    try:
        alias = lambda_client.get_alias(FunctionName=name, Name=ALIAS)
    except lambda_client.exceptions.ResourceNotFoundException:
        return {}
    return dict(alias.get("RoutingConfig", {}).get("AdditionalVersionWeights") or {})


def live_version(lambda_client, name: str) -> str | None:
    """The version the alias ``live`` points at, or None when there is no such alias."""
    try:
        return lambda_client.get_alias(FunctionName=name, Name=ALIAS)["FunctionVersion"]
    except lambda_client.exceptions.ResourceNotFoundException:
        return None


def version_image(lambda_client, name: str, version: str) -> dict:
    """What version ``version`` of ``name`` runs: ``{"uri", "repository", "digest", "state"}``: its image URI
    (``REGISTRY/REPOSITORY@sha256:...``), the ECR repository and digest read from it (None when it names no
    digest), and the version's ``State`` (``Active``, ``Inactive``, ``Failed``...)."""
    function = lambda_client.get_function(FunctionName=name, Qualifier=version)
    uri = function.get("Code", {}).get("ImageUri", "")
    digest = DIGEST.search(uri)
    repository = uri.split("/", 1)[1].split("@")[0].split(":")[0] if "/" in uri else None
    return {"uri": uri, "repository": repository, "digest": digest.group(0) if digest else None,
            "state": function["Configuration"].get("State", "Active")}


def image_details(ecr, repository: str | None, digest: str | None) -> dict | None:
    """ECR's ``imageDetails`` of the image ``digest`` in ``repository`` (``imageTags``, ``imagePushedAt``...), or None
    when it is not there (deleted, expired, or the repository is gone)."""
    if not repository or not digest:
        return None
    try:
        (details,) = ecr.describe_images(repositoryName=repository, imageIds=[{"imageDigest": digest}])["imageDetails"]
    except (ecr.exceptions.ImageNotFoundException, ecr.exceptions.RepositoryNotFoundException):
        return None
    return details


def list_versions(lambda_client, ecr, name: str) -> list[dict]:
    """Every published version of ``name``, oldest first: ``{"version", "tags", "digest", "present", "state",
    "live"}``: the image's tags in ECR (empty when it is gone), its digest, whether ECR still has it, the version's
    state, and whether ``live`` serves it.

    Raises:
        DeployError: there is no function ``name``.
    """
    live, rows = live_version(lambda_client, name), []
    for version in published_versions(lambda_client, name):
        image = version_image(lambda_client, name, version)
        details = image_details(ecr, image["repository"], image["digest"])
        rows.append({"version": version, "tags": sorted((details or {}).get("imageTags", [])),
                     "digest": image["digest"], "present": details is not None, "state": image["state"],
                     "live": version == live})
    return rows


def render_versions(rows: list[dict]) -> str:
    """``list_versions``'s rows as a table: version, image tag, digest (short), state, ``live`` on the one served."""
    lines = [f"{'version':<8} {'image tag':<32} {'digest':<20} {'state':<9}"]
    for row in rows:
        tag = ", ".join(row["tags"]) or ("(untagged)" if row["present"] else "-")
        digest = (row["digest"] or "-")[:19]
        status = "" if row["present"] else "  image gone: cannot run"
        lines.append(f"{row['version']:<8} {tag:<32} {digest:<20} {row['state']:<9}"
                     + ("  <- live" if row["live"] else "") + status)
    return "\n".join(lines)


def rollback(lambda_client, ecr, name: str, version: str | None = None) -> tuple[str, str]:
    """Point ``live`` at ``version`` (default: the newest version older than the one ``live`` serves), after checking
    that the version exists, is not Failed, and that its image is still in ECR. A canary's routing (chapter 07) is
    cleared: all of ``live``'s traffic goes to ``version``; while a canary runs, the default ``version`` is the one
    ``live`` serves, so a rollback ends the canary.

    Returns:
        (the version ``live`` served, the version it serves now).

    Raises:
        DeployError: no function or no ``live`` alias, no such version, no older version, or the version cannot run
            (its image is gone from ECR, or it is Failed); ``live`` is not moved.
        botocore.exceptions.ClientError: an AWS call failed.
    """
    versions = published_versions(lambda_client, name)
    current = live_version(lambda_client, name)
    if current is None:
        raise DeployError(f"the function {name} has no alias {ALIAS!r}: run `make deploy` first.")
    canary = canary_weights(lambda_client, name)
    if version is None and canary:
        version = current  # the version before the canary: live keeps it, the canary's share returns to it
    if version is None:
        older = [v for v in versions if int(v) < int(current)]
        if not older:
            raise DeployError(f"there is no version before {current}, the one {ALIAS} serves: nothing to roll back "
                              f"to (`make versions` lists them).")
        version = older[-1]
    if version not in versions:
        raise DeployError(f"the function {name} has no version {version}: it has {', '.join(versions)} (`make "
                          "versions`).")
    image = version_image(lambda_client, name, version)
    if image_details(ecr, image["repository"], image["digest"]) is None:
        raise DeployError(f"version {version} runs the image {image['digest'] or image['uri']}, which is no longer in "
                          f"the ECR repository {image['repository']!r} (deleted, or expired by a lifecycle policy): "
                          f"Lambda cannot run it (the version enters the Failed state), so {ALIAS} stays at "
                          f"{current}. Roll back to another version (`make versions` shows which still have their "
                          "image), or deploy that code again.")
    if image["state"] == "Failed":
        raise DeployError(f"version {version} is in the Failed state (Lambda cannot run it), so {ALIAS} stays at "
                          f"{current}; roll back to another version (`make versions`).")
    if version != current or canary:
        lambda_client.update_alias(FunctionName=name, Name=ALIAS, FunctionVersion=version,
                                   RoutingConfig=NO_CANARY)
    return current, version


def run_versions(args, session) -> int:
    """The ``versions`` command: print ``render_versions(list_versions(...))``. Returns the exit status."""
    rows = list_versions(session.client("lambda"), session.client("ecr"), args.name)
    if not rows:
        print(f"The function {args.name} has no published version yet: run `make deploy`.")
        return 0
    print(f"Versions of {args.name} in {session.region_name} ({ALIAS} serves the one marked):")
    print(render_versions(rows))
    return 0


def run_rollback(args, session) -> int:
    """The ``rollback`` command: ``rollback(...)``, then say what ``live`` serves. Returns the exit status."""
    canary = canary_weights(session.client("lambda"), args.name)
    before, after = rollback(session.client("lambda"), session.client("ecr"), args.name, args.version)
    if canary:
        shares = ", ".join(f"version {v} ({w:.0%})" for v, w in canary.items())
        print(f"{ALIAS}: the canary's share of the traffic ({shares}) is cleared; all of it goes to version {after} "
              f"of {args.name} now.")
    if before == after and canary:
        return 0
    if before == after:
        print(f"{ALIAS} already serves version {after} of {args.name}: nothing changed.")
    else:
        print(f"{ALIAS}: {before} -> {after} ({args.name} in {session.region_name}). Chapter 06's API invokes "
              f"{ALIAS}, so it answers with version {after} now; `make rollback VERSION={before}` goes forward again.")
    return 0
