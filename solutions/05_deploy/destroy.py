"""Chapter 05's teardown (``make destroy``, after chapter 06's): delete what ``deploy.py`` created, and only that.

Each resource is found by the deployment's name and deleted only when it carries this project's tag
(``tutorial_support.deployment.PROJECT_TAGS``); anything else of the same name is reported and left alone, the log
group ``/aws/lambda/NAME`` too (deploy creates it, tagged, before the function). An idle deployment still costs its
image storage in ECR (every deploy's image: they are kept for ``make rollback``) and its logs in CloudWatch: destroy
removes both.
"""

from __future__ import annotations

from tutorial_support.deployment import ALIAS, is_ours, remove_batch, remove_monitoring, remove_role, role_name


def destroy(session, name: str, dry_run: bool = False) -> list[str]:
    """Delete what ``deploy`` created for ``name``, when tagged as this project's: the function (its versions and
    alias go with it), its log group, the role, the repository (with its images), and chapter 07's CloudWatch alarms
    and dashboard (``make alarms``, ``make canary``). Run chapter 06's ``api.py destroy`` first: the API invokes the
    function.

    Returns:
        one line per resource removed (or, with ``dry_run``, that would be removed); resources not found or not
        ours are reported and left alone.
    """
    lambda_client, logs, iam, ecr = (session.client(s) for s in ("lambda", "logs", "iam", "ecr"))
    done, verb = [], "would remove" if dry_run else "removed"
    done += remove_monitoring(session.client("cloudwatch"), name, dry_run)  # chapter 07: they watch the function
    done += remove_batch(session, name, dry_run)  # chapter 07: the batch state machine invokes the function
    try:
        function = lambda_client.get_function(FunctionName=name)
        if is_ours(function.get("Tags")):
            versions = [v["Version"] for v in lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
                        if v["Version"] != "$LATEST"]
            if not dry_run:
                lambda_client.delete_function(FunctionName=name)
            done.append(f"{verb} Lambda function {name} (versions {', '.join(versions) or 'none'}, alias {ALIAS})")
        else:
            print(f"  Lambda function {name} is not tagged as this project's: left alone")
    except lambda_client.exceptions.ResourceNotFoundException:
        pass
    group = f"/aws/lambda/{name}"  # created, tagged, by deploy before the function (deploy.ensure_log_group)
    for found in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]:
        if found["logGroupName"] != group:
            continue
        arn = found.get("logGroupArn") or found["arn"].removesuffix(":*")
        if is_ours(logs.list_tags_for_resource(resourceArn=arn).get("tags")):
            if not dry_run:
                logs.delete_log_group(logGroupName=group)
            done.append(f"{verb} CloudWatch log group {group}")
        else:
            print(f"  CloudWatch log group {group} is not tagged as this project's: left alone (delete it yourself if "
                  f"it is: aws logs delete-log-group --log-group-name {group})")
    done += remove_role(iam, role_name(name), dry_run)
    try:
        repository = ecr.describe_repositories(repositoryNames=[name])["repositories"][0]
        if is_ours(ecr.list_tags_for_resource(resourceArn=repository["repositoryArn"])["tags"]):
            images = len(ecr.list_images(repositoryName=name)["imageIds"])
            if not dry_run:
                ecr.delete_repository(repositoryName=name, force=True)
            done.append(f"{verb} ECR repository {name} ({images} image{'s' * (images != 1)})")
        else:
            print(f"  ECR repository {name} is not tagged as this project's: left alone")
    except ecr.exceptions.RepositoryNotFoundException:
        pass
    return done

