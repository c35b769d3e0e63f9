"""Changes over a resource's life that moto 5.2.5 gets wrong, made as on AWS: Lambda applies a change
asynchronously, and an API Gateway HTTP API's stage is updated, not created twice.

On AWS, ``create_function`` returns while the function is still ``Pending`` (``StateReasonCode`` ``Creating``), and
``update_function_code`` / ``update_function_configuration`` return while its ``LastUpdateStatus`` is ``InProgress``;
until Lambda is done, another ``update_function_code``, ``update_function_configuration`` or ``publish_version`` is
refused with ``ResourceConflictException`` ("The operation cannot be performed at this time. ..."), and so is an
invocation while the function is ``Pending``. A deployment script waits in between, with boto3's waiters
``function_active_v2`` and ``function_updated_v2``, which poll ``get_function``. Source:
https://docs.aws.amazon.com/lambda/latest/dg/functions-states.html (the operations that fail while a function is
``Pending``, and while an update is ``InProgress``).

moto 5.2.5 makes every change final at once (``State`` ``Active``, ``LastUpdateStatus`` ``Successful``), so a script
that never waits works against moto and fails on AWS. While ``lambda_lifecycle()`` is entered, moto (in-process with
``mock_aws``, or a ``ThreadedMotoServer`` of this process: the patches are on moto's backend and response classes,
not on boto3) behaves like AWS here: a change stays in progress until the function has been looked at ``LOOKS``
times (``get_function`` or ``get_function_configuration``, what the waiters call), each look reporting the state as
it was, and the refused calls are refused meanwhile. With ``LOOKS = 1`` the first poll of a waiter sees the change
in progress and the second sees it done: one delay of the waiter (1 s for the ``_v2`` waiters) per change.

It also fills two gaps of moto 5.2.5 on the way: ``update_function_code`` ignores ``Architectures`` (AWS takes the
function's architecture from that call; ``update_function_configuration`` has no such parameter), and a published
version shares ``$LATEST``'s code, so that after an update every version reports the new image (on AWS a version runs
the image it was published with, which ``make rollback`` relies on).

API Gateway (``apigatewayv2``): moto 5.2.5 has no ``update_stage`` (NotImplementedError), and its ``create_stage``
silently replaces a stage of the same name, where AWS answers ``ConflictException`` ("Stage already exists"). While
``stage_updates()`` is entered, ``update_stage`` changes the settings it is given (``DefaultRouteSettings`` merged
into the stage's, as the other settings keep theirs), and a second ``create_stage`` of a name is refused. A moto that
has its own ``update_stage`` keeps it.

Lambda's account limits: moto 5.2.5 has no ``get_account_settings`` (no route for ``GET /2016-08-19/account-settings``),
and its ``put_function_concurrency`` checks a limit only when ``MOTO_LAMBDA_CONCURRENCY_QUOTA`` is set, always keeping
100 unreserved. While ``account_limits()`` is entered, ``get_account_settings`` answers as AWS does
(``AccountLimit.ConcurrentExecutions``: ``MOTO_LAMBDA_CONCURRENCY_QUOTA``, else AWS's default of 1,000;
``UnreservedConcurrentExecutions``: that minus what the functions reserve), and ``put_function_concurrency`` refuses
a reservation that leaves fewer than ``min(100, limit)`` unreserved, with AWS's ``InvalidParameterValueException``:
so an account whose limit is 10 (``mock_aws_account(concurrency_limit=10)``) can reserve nothing, as a new AWS account.
Source: https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html, and
https://docs.aws.amazon.com/lambda/latest/api/API_GetAccountSettings.html.

CloudWatch dashboards: AWS tags them (``TagResource``: "the only CloudWatch resources that can be tagged are alarms,
dashboards, metric streams and Contributor Insights rules", https://docs.aws.amazon.com/AmazonCloudWatch/latest/
APIReference/API_TagResource.html), moto 5.2.5 only alarms (``ResourceNotFoundException`` for a dashboard's ARN). While
``dashboard_tags()`` is entered, a dashboard's ARN is tagged and listed too, and ``delete_dashboards`` drops its tags.

``lifecycle()`` enters all four; ``tutorial_support.moto_account.moto_gaps_filled`` enters it.
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import ExitStack, contextmanager
from datetime import datetime
from unittest import mock
from urllib.parse import unquote

LOOKS = 1  # looks (get_function / get_function_configuration) a creation or an update stays in progress for
CREATING, UPDATING = "creating", "updating"

_lock = threading.Lock()
_entered: dict[str, tuple[int, ExitStack]] = {}  # patch set -> (contexts entered, its patches), while entered


@contextmanager
def _shared(name: str, patches):
    """Enter the patches ``patches()`` for as long as any context of ``name`` is entered: nested or overlapping
    contexts (threads, a server and a test) share one set, removed when the last one exits."""
    with _lock:
        depth, stack = _entered.get(name, (0, None))
        if depth == 0:
            stack = ExitStack()
            try:
                for patch in patches():
                    stack.enter_context(patch)
            except BaseException:
                stack.close()
                raise
        _entered[name] = (depth + 1, stack)
    try:
        yield
    finally:
        with _lock:
            depth, stack = _entered.pop(name)
            if depth > 1:
                _entered[name] = (depth - 1, stack)
            else:
                stack.close()


@contextmanager
def lifecycle():
    """``lambda_lifecycle()``, ``stage_updates()``, ``account_limits()`` and ``dashboard_tags()`` together: what
    ``moto_gaps_filled`` enters."""
    with lambda_lifecycle(), stage_updates(), account_limits(), dashboard_tags():
        yield


def lambda_lifecycle():
    """While in this context, moto's Lambda functions go through ``Pending`` / ``InProgress`` before ``Active`` /
    ``Successful``, and refuse updates and ``publish_version`` meanwhile (see the module's docstring)."""
    return _shared("lambda", _lambda_patches)


def stage_updates():
    """While in this context, moto's apigatewayv2 has ``update_stage`` and refuses a second ``create_stage`` of a
    stage name with ``ConflictException`` (see the module's docstring)."""
    return _shared("stages", _stage_patches)


def dashboard_tags():
    """While in this context, moto's CloudWatch tags dashboards as AWS does (see the module's docstring)."""
    return _shared("dashboards", _dashboard_patches)


def account_limits():
    """While in this context, moto's Lambda answers ``get_account_settings`` and refuses reservations as AWS does
    (see the module's docstring)."""
    return _shared("account", _account_patches)


def _lambda_patches():
    """The ``mock.patch.object`` patches of moto's Lambda classes that make up the lifecycle."""
    from moto.awslambda.models import LambdaBackend, LambdaFunction
    from moto.awslambda.responses import LambdaResponse
    from moto.awslambda_simple.models import LambdaSimpleBackend  # the backend of MOTO_CONFIG's use_docker=False

    return [
        mock.patch.object(LambdaFunction, "get_configuration", _reported(LambdaFunction.get_configuration)),
        mock.patch.object(LambdaBackend, "create_function", _creating(LambdaBackend.create_function)),
        mock.patch.object(LambdaBackend, "update_function_code", _updating_code(LambdaBackend.update_function_code)),
        mock.patch.object(LambdaBackend, "update_function_configuration",
                          _updating_configuration(LambdaBackend.update_function_configuration)),
        mock.patch.object(LambdaBackend, "publish_version", _publishing(LambdaBackend.publish_version)),
        mock.patch.object(LambdaBackend, "invoke", _invoking(LambdaBackend.invoke)),
        mock.patch.object(LambdaSimpleBackend, "invoke", _invoking(LambdaSimpleBackend.invoke)),
        mock.patch.object(LambdaResponse, "get_function", _looked(LambdaResponse.get_function, 1)),
        mock.patch.object(LambdaResponse, "get_function_configuration",
                          _looked(LambdaResponse.get_function_configuration, 2)),
    ]


def _busy(fn) -> str | None:
    """``CREATING`` or ``UPDATING`` while a change of moto's function ``fn`` is in progress, else None."""
    progress = getattr(fn, "_lifecycle", None)
    return progress[0] if progress else None


def _start(fn, kind: str) -> None:
    fn._lifecycle = (kind, LOOKS)


def _refuse_while_busy(fn) -> None:
    """Raise Lambda's ``ResourceConflictException`` (HTTP 409) when a change of ``fn`` is in progress."""
    from moto.awslambda.exceptions import LambdaClientError

    class Conflict(LambdaClientError):
        code = 409

    busy = _busy(fn)
    if busy == CREATING:
        raise Conflict("ResourceConflictException", "The operation cannot be performed at this time. The function "
                       "is currently in the following state: Pending")
    if busy == UPDATING:
        raise Conflict("ResourceConflictException", "The operation cannot be performed at this time. An update is "
                       f"in progress for resource: {fn.function_arn}")


def _reported(original):
    def get_configuration(self, on_create: bool = False):
        """moto's configuration of the function, with the state of a change in progress as AWS reports it."""
        config = original(self, on_create)
        busy = _busy(self)
        if busy == CREATING:
            config.update(State="Pending", StateReason="The function is being created.", StateReasonCode="Creating",
                          LastUpdateStatus="InProgress", LastUpdateStatusReason="The function is being created.",
                          LastUpdateStatusReasonCode="Creating")
        elif busy == UPDATING:
            config.update(LastUpdateStatus="InProgress")
        return config

    return get_configuration


def _creating(original):
    def create_function(self, spec):
        """moto's create_function; the new function is ``Pending`` until looked at."""
        fn = original(self, spec)
        _start(self.get_function(fn.function_name), CREATING)
        return fn

    return create_function


def _updating_code(original):
    def update_function_code(self, function_name, qualifier, body):
        """moto's update_function_code, refused while a change is in progress, honouring ``Architectures``; the
        update is ``InProgress`` until looked at."""
        fn = self.get_function(function_name, qualifier)
        _refuse_while_busy(fn)
        if body.get("DryRun"):
            return original(self, function_name, qualifier, body)
        if body.get("Architectures"):
            fn.architectures = list(body["Architectures"])  # moto's setter validates them (x86_64 or arm64, one)
        answer = original(self, function_name, qualifier, body)
        _start(fn, UPDATING)
        return answer if body.get("Publish") else fn.get_configuration()

    return update_function_code


def _updating_configuration(original):
    def update_function_configuration(self, function_name, qualifier, body):
        """moto's update_function_configuration, refused while a change is in progress; the update is
        ``InProgress`` until looked at."""
        fn = self.get_function(function_name, qualifier)
        _refuse_while_busy(fn)
        original(self, function_name, qualifier, body)
        _start(fn, UPDATING)
        return fn.get_configuration()

    return update_function_configuration


def _publishing(original):
    def publish_version(self, function_name, description=""):
        """moto's publish_version, refused while a change of the function is in progress; the version keeps its own
        copy of the code (moto's shallow copy shares ``$LATEST``'s, which ``update_function_code`` then changes in
        place, so every version would report the newest image)."""
        _refuse_while_busy(self.get_function(function_name))
        version = original(self, function_name, description)
        if version is not None:
            version.code = dict(version.code)
        return version

    return publish_version


def _invoking(original):
    def invoke(self, function_name, qualifier, *args, **kwargs):
        """moto's invoke, refused while the function (as qualified) is still being created: Lambda does not invoke
        a Pending function. (During an update, AWS invokes the previous code; moto runs the new one.)"""
        if _busy(self.get_function(function_name, qualifier)) == CREATING:
            _refuse_while_busy(self.get_function(function_name, qualifier))
        return original(self, function_name, qualifier, *args, **kwargs)

    return invoke


def _looked(original, name_from_end: int):
    def look(self):
        """moto's answer to a look at the function (state as it was), then one look less for its change."""
        answer = original(self)
        name = unquote(self.path.rsplit("/", name_from_end)[-name_from_end])
        fn = self.backend.get_function(name, self._get_param("Qualifier", None))
        progress = getattr(fn, "_lifecycle", None)
        if progress:
            fn._lifecycle = (progress[0], progress[1] - 1) if progress[1] > 1 else None
        return answer

    return look


# --------------------------------------------------------------------------------------------- API Gateway stages


def _stage_patches():
    """The ``mock.patch.object`` patches of moto's apigatewayv2 responses: ``update_stage``, ``create_stage``."""
    from moto.apigatewayv2.responses import ApiGatewayV2Response

    own = getattr(ApiGatewayV2Response, "update_stage", None)
    return [
        mock.patch.object(ApiGatewayV2Response, "update_stage", own or _update_stage, create=True),
        mock.patch.object(ApiGatewayV2Response, "create_stage", _creating_stage(ApiGatewayV2Response.create_stage)),
    ]


STAGE_SETTINGS = {"autoDeploy": "auto_deploy", "description": "description", "routeSettings": "route_settings",
                  "stageVariables": "stage_variables", "accessLogSettings": "access_log_settings",
                  "clientCertificateId": "client_certificate_id"}  # update_stage's fields -> moto's Stage attributes


def _update_stage(self):
    """apigatewayv2 ``update_stage`` for moto (``ApiGatewayV2Response``), which lacks it: the settings given are
    changed, ``DefaultRouteSettings`` merged into the stage's; answered as ``get_stage`` answers."""
    api_id = self.path.split("/")[-3]
    stage = self.apigatewayv2_backend.get_stage(api_id, unquote(self.path.split("/")[-1]))  # StageNotFound: 404
    changes = json.loads(self.body or "{}")
    for field, attribute in STAGE_SETTINGS.items():
        if field in changes:
            setattr(stage, attribute, changes[field])
    if "defaultRouteSettings" in changes:
        stage.default_route_settings = {**(stage.default_route_settings or {}), **changes["defaultRouteSettings"]}
    stage.updated = datetime.now()
    return 200, {}, json.dumps(stage.to_json())


def _creating_stage(original):
    def create_stage(self):
        """moto's create_stage, refused with ``ConflictException`` (HTTP 409) when the stage exists, as on AWS."""
        from moto.apigatewayv2.exceptions import APIGatewayV2Error

        class Conflict(APIGatewayV2Error):
            code = 409

        api_id = self.path.split("/")[-2]
        name = json.loads(self.body or "{}").get("stageName")
        if name in self.apigatewayv2_backend.get_api(api_id).stages:
            raise Conflict("ConflictException", "Stage already exists")
        return original(self)

    return create_stage


# --------------------------------------------------------------------------------------------- Lambda account limits

QUOTA_VARIABLE = "MOTO_LAMBDA_CONCURRENCY_QUOTA"  # moto's own setting of the account's concurrency limit
ACCOUNT_SETTINGS_PATH = r"{0}/(?P<api_version>[^/]+)/account-settings/?$"  # GET /2016-08-19/account-settings/


def install_routes() -> None:
    """Add moto's missing route for ``get_account_settings`` to its Lambda URL map, once. A moto server reads the map
    when it makes its Lambda app (at its first Lambda request), so ``moto_account.server_url`` calls this before
    starting one. The route stays; the action is answered only while ``account_limits()`` is entered."""
    from moto.awslambda import urls
    from moto.awslambda.responses import LambdaResponse

    urls.url_paths.setdefault(ACCOUNT_SETTINGS_PATH, LambdaResponse.dispatch)


def _account_patches():
    """The route (``install_routes``), ``get_account_settings`` and ``put_function_concurrency`` with AWS's
    minimum."""
    from moto.awslambda.models import LambdaBackend
    from moto.awslambda.responses import LambdaResponse

    install_routes()
    own = getattr(LambdaResponse, "get_account_settings", None)
    return [
        mock.patch.object(LambdaResponse, "get_account_settings", own or _get_account_settings, create=True),
        mock.patch.object(LambdaBackend, "put_function_concurrency", _put_function_concurrency),
    ]


def account_limit() -> int:
    """The fake account's concurrency limit: ``MOTO_LAMBDA_CONCURRENCY_QUOTA``, else AWS's default
    (``deployment.DEFAULT_ACCOUNT_LIMIT``)."""
    from tutorial_support.deployment import DEFAULT_ACCOUNT_LIMIT

    return int(os.environ.get(QUOTA_VARIABLE) or DEFAULT_ACCOUNT_LIMIT)


def _reserved(backend, except_function: str | None = None) -> int:
    return sum(int(fn.reserved_concurrency or 0) for fn in backend.list_functions()
               if fn.function_name != except_function)


def _get_account_settings(self):
    """Lambda ``get_account_settings`` for moto (``LambdaResponse``), which lacks it: the limit and what is left
    unreserved, and moto's defaults for the code-size limits."""
    limit = account_limit()
    functions = self.backend.list_functions()
    return 200, {}, json.dumps({
        "AccountLimit": {"TotalCodeSize": 80_530_636_800, "CodeSizeUnzipped": 262_144_000,
                         "CodeSizeZipped": 52_428_800, "ConcurrentExecutions": limit,
                         "UnreservedConcurrentExecutions": limit - _reserved(self.backend)},
        "AccountUsage": {"TotalCodeSize": sum(int(getattr(fn, "code_size", 0) or 0) for fn in functions),
                         "FunctionCount": len(functions)}})


def _put_function_concurrency(self, function_name: str, reserved_concurrency: str) -> str:
    """moto's put_function_concurrency with AWS's rule: refused (``InvalidParameterValueException``) when it would
    leave fewer than ``min(100, limit)`` of the account's executions unreserved."""
    from moto.awslambda.exceptions import InvalidParameterValueException

    from tutorial_support.deployment import UNRESERVED_MINIMUM

    fn = self.get_function(function_name)
    limit = account_limit()
    minimum = min(UNRESERVED_MINIMUM, limit)
    if limit - _reserved(self, fn.function_name) - int(reserved_concurrency) < minimum:
        raise InvalidParameterValueException(
            "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution "
            f"below its minimum value of [{minimum}].")
    fn.reserved_concurrency = reserved_concurrency
    return fn.reserved_concurrency


# --------------------------------------------------------------------------------------------- CloudWatch dashboards


def _dashboard_patches():
    """The ``mock.patch.object`` patches of moto's CloudWatch backend: ``tag_resource``, ``delete_dashboards``."""
    from moto.cloudwatch.models import CloudWatchBackend

    return [mock.patch.object(CloudWatchBackend, "tag_resource", _tagging(CloudWatchBackend.tag_resource)),
            mock.patch.object(CloudWatchBackend, "delete_dashboards",
                              _deleting_dashboards(CloudWatchBackend.delete_dashboards))]


def _tagging(original):
    def tag_resource(self, arn: str, tags: dict[str, str]) -> None:
        """moto's tag_resource, which also tags a dashboard (by its ARN), as AWS does."""
        if arn in (dashboard.arn for dashboard in self.dashboards.values()):
            self.tagger.tag_resource(arn, self.tagger.convert_dict_to_tags_input(tags))
            return None
        return original(self, arn, tags)

    return tag_resource


def _deleting_dashboards(original):
    def delete_dashboards(self, dashboards: list[str]):
        """moto's delete_dashboards; the deleted dashboards' tags go with them."""
        arns = [self.dashboards[name].arn for name in dashboards if name in self.dashboards]
        answer = original(self, dashboards)
        for arn in arns:
            if arn not in (dashboard.arn for dashboard in self.dashboards.values()):
                self.tagger.delete_all_tags_for_resource(arn)
        return answer

    return delete_dashboards
