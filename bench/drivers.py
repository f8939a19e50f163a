"""The programs each measurement runs in a child interpreter (`python -I -S -B -c DRIVER`).

A driver sees only the unpacked package on its path, as on FC. Its arguments are the
package directory, a report path (JSON written at the end) and a JSON job description.
Everything a driver imports before the code under test is imported by both sides of a
comparison, so the difference is the handler's own.

Times are `time.monotonic()` values: CLOCK_MONOTONIC is system-wide on Linux, so the
parent can subtract the moment it spawned the child.
"""

from __future__ import annotations

# The FC python3.10 context: credentials on the context. python3.12 puts them in the
# environment instead (the parent sets ALIBABA_CLOUD_*), so its context has none.
_CONTEXT = """
class _Namespace:
    def __init__(self, **fields):
        self.__dict__.update(fields)


def _context(request_id, job):
    function = _Namespace(
        name="cams-delete-instance", handler="index.handler", memory=128, timeout=30
    )
    if job["context_credentials"]:
        return _Namespace(
            request_id=request_id,
            credentials=_Namespace(
                access_key_id=job["access_key_id"],
                access_key_secret=job["access_key_secret"],
                security_token=job["security_token"],
            ),
            function=function,
            region="ap-southeast-1",
            account_id="1234567890123456",
        )
    return _Namespace(
        request_id=request_id, function=function, region="ap-southeast-1",
        account_id="1234567890123456",
    )
"""

_BARE_CLIENT = """
def _bare_client(job):
    return Client(
        Config(
            access_key_id=job["access_key_id"],
            access_key_secret=job["access_key_secret"],
            security_token=job["security_token"],
            endpoint=job["endpoint"],
            protocol="http",
            region_id="ap-southeast-1",
        )
    )
"""

_REPORT = """
def _peak_rss_kib():
    # VmHWM is this process's own peak. ru_maxrss is not: the kernel carries the spawning
    # process's peak over into it at exec, so every child read at least the bench's RSS.
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def _report(path, data):
    import json

    data["maxrss_kib"] = _peak_rss_kib()
    data["modules"] = len(sys.modules)
    with open(path, "w") as out:
        json.dump(data, out)
"""

# After a driver's own imports: the package on the path, the handler and the SDK's client
# imported, and the helpers every warm driver uses.
_PACKAGE_AND_SDK = (
    """
PKG, REPORT, JOB = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, PKG)
import index
from alibabacloud_cams20200606.client import Client
from alibabacloud_cams20200606.models import DeleteInstanceRequest
from alibabacloud_tea_openapi.utils_models import Config
"""
    + _CONTEXT
    + _BARE_CLIENT
    + _REPORT
)

# A timer around a function or method: its seconds add up in spent[label].
_TIMED = """
spent = {}
clock = time.perf_counter


def timed(owner, name, label):
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        began = clock()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] += clock() - began

    spent[label] = 0.0  # a stage the call never reached reports 0
    setattr(owner, name, wrapper)
"""

# One cold invocation of the function: import index, FC's initializer, one event.
COLD_HANDLER = (
    """
import sys
import time

t_start = time.monotonic()
PKG, REPORT, JOB = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, PKG)
import index

t_imported = time.monotonic()
"""
    + _CONTEXT
    + """
import json

job = json.loads(JOB)
context = _context("cold-" + job["instance_id"], job)
index.initialize(context)
t_initialized = time.monotonic()
result = index.handler(b'{"InstanceId": "%s"}' % job["instance_id"].encode(), context)
t_served = time.monotonic()
"""
    + _REPORT
    + """
_report(REPORT, {
    "ok": result.get("Outcome") == "deleted",
    "detail": result.get("Code"),
    "t_start": t_start,
    "t_imported": t_imported,
    "t_initialized": t_initialized,
    "t_served": t_served,
})
"""
)

# The same one call made by the bare SDK, as the smallest function would make it.
COLD_BARE = (
    """
import sys
import time

t_start = time.monotonic()
PKG, REPORT, JOB = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, PKG)
from alibabacloud_cams20200606.client import Client
from alibabacloud_cams20200606.models import DeleteInstanceRequest
from alibabacloud_tea_openapi.utils_models import Config

t_imported = time.monotonic()
import json

job = json.loads(JOB)
"""
    + _BARE_CLIENT
    + """
client = _bare_client(job)
t_initialized = time.monotonic()
response = client.delete_instance(DeleteInstanceRequest(instance_id=job["instance_id"]))
t_served = time.monotonic()
"""
    + _REPORT
    + """
_report(REPORT, {
    "ok": response.body.code == "OK",
    "detail": response.body.code,
    "t_start": t_start,
    "t_imported": t_imported,
    "t_initialized": t_initialized,
    "t_served": t_served,
})
"""
)

# Warm: all paths warmed, then interleaved one call at a time, the order rotated every
# round. Log lines go to this process's stdout, which the parent points at /dev/null (a
# real file). Besides the handler and the bare call, references that are not the
# function: the same call made from the same event with the answer mapped to a result
# ("answer"); that plus the two log lines the function must write, built and written by
# hand ("answer_and_lines"); and the same lines through the function's own structlog logger
# ("answer_and_function_lines"). They show what the contract alone costs, and what is left
# for the rest of the function.
WARM = (
    """
import datetime
import functools
import gc
import json
import sys
import time
"""
    + _PACKAGE_AND_SDK
    + """
job = json.loads(JOB)
names, warmup = job["contenders"], job["warmup"]
ids = {name: ["warm-%s-%d" % (name, n) for n in range(job["total"])] for name in names}
index.initialize(_context("warm-init", job))
client = _bare_client(job)
events = {name: [b'{"InstanceId": "%s"}' % i.encode() for i in ids[name]] for name in names}
contexts = [_context("warm-%d" % n, job) for n in range(len(ids["handler"]))]
clock = time.perf_counter
handler = index.handler
encoder = json.JSONEncoder(separators=(",", ":"))
bad = []


def run_handler(n):
    began = clock()
    result = handler(events["handler"][n], contexts[n])
    elapsed = clock() - began
    if result.get("Outcome") != "deleted":
        bad.append(("handler", ids["handler"][n], result.get("Code")))
    return elapsed


def run_bare(n):
    instance_id = ids["bare"][n]
    began = clock()
    # The request is part of the call: any function builds it from its event.
    response = client.delete_instance(DeleteInstanceRequest(instance_id=instance_id))
    elapsed = clock() - began
    if response.body.code != "OK":
        bad.append(("bare", ids["bare"][n], response.body.code))
    return elapsed


def _write(text):
    stdout = sys.stdout
    stdout.write(text + "\\n")
    stdout.flush()


def _render(_logger, method_name, event_dict):
    # A line as plain code would make it.
    return encoder.encode({
        "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "level": method_name,
        **event_dict,
    })


from cams_delete import logs as function_logs


def _log(name, event, **fields):
    # The same line through the function's logger (as index.initialize configured it), or
    # built and written by hand.
    if name == "answer_and_function_lines":
        function_logs.get().info(event, **fields)
    else:
        _write(_render(None, "info", {"event": event, **fields}))


def _reference(name, n):
    began = clock()
    instance_id = json.loads(events[name][n])["InstanceId"]
    body = client.delete_instance(DeleteInstanceRequest(instance_id=instance_id)).body.to_map()
    answer = {
        "Success": body.get("Code") == "OK", "Code": body.get("Code"),
        "Message": body.get("Message"), "RequestId": body.get("RequestId"),
        "InstanceId": instance_id, "Outcome": "deleted", "Attempts": 1,
    }
    if name != "answer":
        context = contexts[n]
        common = {
            "request_id": context.request_id, "function_name": context.function.name,
            "cold_start": False,
        }
        _log(
            name, "deletion", instance_id=instance_id, outcome="deleted", code=answer["Code"],
            message=answer["Message"], cams_request_id=answer["RequestId"], attempts=1,
            retryable=False, duration_ms=round((clock() - began) * 1000, 1), **common,
        )
        _log(
            name, "invocation", source="direct", count=1, status="succeeded",
            outcomes={"deleted": 1}, code=answer["Code"],
            duration_ms=round((clock() - began) * 1000, 1), **common,
        )
    elapsed = clock() - began
    if not answer["Success"]:
        bad.append((name, instance_id, answer["Code"]))
    return elapsed


runners = {
    "handler": run_handler,
    "bare": run_bare,
    **{name: functools.partial(_reference, name) for name in names[2:]},
}
for n in range(warmup):
    for name in names:
        runners[name](n)
gc.collect()
seconds = {name: [] for name in names}
for n in range(warmup, len(ids["handler"])):
    shift = n % len(names)
    for name in names[shift:] + names[:shift]:
        seconds[name].append(runners[name](n))
_report(REPORT, {"ok": not bad, "bad": bad[:5], "seconds": seconds})
"""
)

# Batch: one warm-up invocation, then `runs` batch events of fresh instances.
BATCH = (
    """
import json
import sys
import time

PKG, REPORT, JOB = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, PKG)
import index
"""
    + _CONTEXT
    + _REPORT
    + """
job = json.loads(JOB)
index.initialize(_context("batch-init", job))
warm = index.handler(b'{"InstanceId": "%s"}' % job["warmup_id"].encode(), _context("w", job))
ok = warm.get("Outcome") == "deleted"
walls, bad = [], []
for n, ids in enumerate(job["batches"]):
    event = json.dumps([{"InstanceId": i} for i in ids]).encode()
    context = _context("batch-%d" % n, job)
    began = time.perf_counter()
    document = index.handler(event, context)
    walls.append(time.perf_counter() - began)
    if document.get("Counts", {}).get("deleted") != len(ids):
        bad.append(document.get("Code"))
_report(REPORT, {"ok": ok and not bad, "bad": bad[:5], "wall_s": walls})
"""
)

# Where the handler's own time goes, stage by stage, with the SDK's network call replaced
# by a canned answer: best of 7 loops, in microseconds. Also the whole handler right after
# a real SDK call, whose code and data evict the handler's from the CPU caches.
STAGES = (
    """
import json
import sys
import time
"""
    + _PACKAGE_AND_SDK
    + """
from cams_delete import cams, config, credentials, deleter, entrypoints, extract, logs
from cams_delete import retry, sources, validation

job = json.loads(JOB)
context = _context("stages", job)
stdout, sys.stdout = sys.stdout, open("/dev/null", "w")
index.initialize(context)
settings = config.current_settings()
role = credentials.resolve(context)
endpoint = cams.Endpoint(settings.endpoint, settings.protocol, settings.region)
client = deleter._CLIENTS.get(endpoint, role)
# What call_api returns for a deletion, as the emulator answers it.
canned = {
    "headers": {}, "statusCode": 200,
    "body": {
        "RequestId": "B7A7C6E8-1234-5678-9ABC-DEF012345678", "Code": "OK", "Message": "NULL",
        "Success": True, "AccessDeniedDetail": "{}",
    },
}
client.call_api = lambda params, request, runtime: canned
event = b'{"InstanceId": "i-123456"}'
clock = time.perf_counter


def best(function, n=2000):
    times = []
    for _ in range(7):
        began = clock()
        for _ in range(n):
            function()
        times.append(clock() - began)
    return min(times) / n * 1e6


recognised = sources.recognise(event)
candidate = extract.from_single(recognised)
plan = deleter.Plan(settings, retry.Deadline(time.monotonic() + 30), role, False)
body = canned["body"]
result = cams.classify_body(body, "i-123456", settings.not_found_codes).with_attempts(1)
stages = {
    "handler, SDK call stubbed": lambda: index.handler(event, context),
    "recognise the event": lambda: sources.recognise(event),
    "current_settings": config.current_settings,
    "extract": lambda: extract.from_single(recognised),
    "validate": lambda: validation.check_instance_id("i-123456"),
    "credentials + bind the invocation": lambda: logs.bind_invocation(
        credentials.resolve(context).secrets(), request_id="stages",
        function_name="cams-delete-instance", cold_start=False,
    ),
    "client cache lookup": lambda: deleter._CLIENTS.get(endpoint, role),
    "delete_once, SDK call stubbed": lambda: cams.delete_once(
        client, "i-123456", connect_timeout_s=5, read_timeout_s=10,
        not_found_codes=settings.not_found_codes, retry_later_codes=settings.retry_later_codes,
    ),
    # Built once per pair of timeouts, as delete_once takes them.
    "  RuntimeOptions (cached)": lambda: cams._runtime_options(5000, 10000),
    "  classify the answer": lambda: cams.classify_body(
        body, "i-123456", settings.not_found_codes
    ),
    "DeletionResult.with_attempts": lambda: result.with_attempts(1),
    "deletion log line": lambda: deleter.log_result(result, (), 0.0012),
    "invocation log line": lambda: entrypoints._log_invocation(
        "direct", [result], time.monotonic(), status="succeeded"
    ),
    "result document": result.to_document,
}
costs = {name: best(function) for name, function in stages.items()}
ids = job["instance_ids"]
bare = _bare_client(job)
after_sdk = []
for instance_id in ids:
    bare.delete_instance(DeleteInstanceRequest(instance_id=instance_id))
    began = clock()
    index.handler(event, context)
    after_sdk.append(clock() - began)
after_sdk.sort()
costs["handler, SDK call stubbed, after a real SDK call (median)"] = (
    after_sdk[len(after_sdk) // 2] * 1e6
)
sys.stdout = stdout
_report(REPORT, {"ok": True, "stages_us": costs})
"""
)

# The first invocation of a new instance, after FC's initializer, under cProfile: where the
# time of a first call goes (the profile is text, the top functions by their own time).
FIRST_CALL = (
    """
import cProfile
import io
import json
import pstats
import sys
import time

PKG, REPORT, JOB = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, PKG)
import index
"""
    + _CONTEXT
    + _REPORT
    + """
job = json.loads(JOB)
stdout, sys.stdout = sys.stdout, open("/dev/null", "w")
context = _context("first-call", job)
began = time.perf_counter()
index.initialize(context)
initialized = time.perf_counter()
profile = cProfile.Profile()
profile.enable()
result = index.handler(b'{"InstanceId": "%s"}' % job["instance_id"].encode(), context)
profile.disable()
served = time.perf_counter()
sys.stdout = stdout
text = io.StringIO()
pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(job["top"])
_report(REPORT, {
    "ok": result.get("Outcome") == "deleted",
    "detail": result.get("Code"),
    "initialize_s": initialized - began,
    "first_call_s": served - initialized,
    "profile": text.getvalue(),
})
"""
)

# Over HTTPS (the emulator behind TLS, its authority appended to a copy of certifi's bundle
# that darabonba and requests both read): the initializer, the first invocation, invocations
# on a new connection (the sessions' pools closed before each), and warm ones. With
# job["reload_bundle"], the function's adapters verify as the SDK alone does, loading the
# bundle for every new connection: the reference the change is measured against.
HTTPS_CALLS = (
    """
import json
import statistics
import sys
import time

PKG, REPORT, JOB = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, PKG)
import index
from cams_delete import cams
import certifi
import requests.adapters
"""
    + _CONTEXT
    + _REPORT
    + """
job = json.loads(JOB)
certifi.where = lambda: job["bundle"]
requests.adapters.DEFAULT_CA_BUNDLE_PATH = job["bundle"]
if job["reload_bundle"]:
    cams.verify_with_the_loaded_bundle = lambda adapter, bundle: None
from darabonba.core import DaraCore

stdout, sys.stdout = sys.stdout, open("/dev/null", "w")
context = _context("https", job)
clock = time.perf_counter


def invoke(instance_id):
    began = clock()
    result = index.handler(b'{"InstanceId": "%s"}' % instance_id.encode(), context)
    if result.get("Outcome") != "deleted":
        bad.append(result.get("Code"))
    return clock() - began


bad = []
began = clock()
index.initialize(context)
initialize_s = clock() - began
first_s = invoke(job["first_id"])
new_connection_s = []
for instance_id in job["reconnect_ids"]:
    for session in DaraCore._sessions.values():
        session.close()  # its pools: the next request opens a new connection
    new_connection_s.append(invoke(instance_id))
warm_s = [invoke(instance_id) for instance_id in job["warm_ids"]]
sys.stdout = stdout
_report(REPORT, {
    "ok": not bad,
    "bad": bad[:5],
    "initialize_s": initialize_s,
    "first_s": first_s,
    "new_connection_s": statistics.median(new_connection_s),
    "warm_s": statistics.median(warm_s),
})
"""
)

# Where a warm bare SDK call's time goes: each stage of its path (the SDK, darabonba,
# requests, urllib3, http.client) timed by a wrapper, wall time, nested, as the mean per
# call over job["calls"] calls after job["warmup"]. "the server's answer awaited and its
# headers parsed" includes the emulator's own time. The client's CPU time is for the calls
# without the wrappers, measured first.
TRANSPORT = (
    """
import functools
import http.client
import json
import sys
import time

PKG, REPORT, JOB = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, PKG)
import darabonba.core
import requests.adapters
import requests.models
import requests.sessions
import urllib3.connectionpool
from alibabacloud_cams20200606.client import Client
from alibabacloud_cams20200606.models import DeleteInstanceRequest
from alibabacloud_tea_openapi import client as openapi_client
from alibabacloud_tea_openapi.utils_models import Config
"""
    + _BARE_CLIENT
    + _REPORT
    + """
job = json.loads(JOB)
ids = ("%s-%d" % (job["id_prefix"], n) for n in range(job["warmup"] + 2 * job["calls"]))
client = _bare_client(job)
bad = []


def call():
    instance_id = next(ids)
    response = client.delete_instance(DeleteInstanceRequest(instance_id=instance_id))
    if response.body.code != "OK":
        bad.append((instance_id, response.body.code))


for _ in range(job["warmup"]):
    call()
wall, cpu = time.perf_counter(), time.process_time()
for _ in range(job["calls"]):
    call()
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu

"""
    + _TIMED
    + """


for owner, name, label in (
    (Client, "delete_instance", "the call"),
    (openapi_client.Client, "do_request", "  signed and sent (tea-openapi do_request)"),
    (darabonba.core.DaraCore, "do_action", "    sent (darabonba do_action)"),
    (requests.models.PreparedRequest, "prepare", "      request prepared (requests)"),
    (requests.sessions.Session, "send", "      Session.send"),
    (requests.adapters.HTTPAdapter, "send", "        HTTPAdapter.send"),
    (urllib3.connectionpool.HTTPConnectionPool, "urlopen", "          urllib3 urlopen"),
    (http.client.HTTPResponse, "begin", "            answer awaited, headers parsed"),
    (requests.adapters.HTTPAdapter, "build_response", "          response built"),
    (requests.adapters, "extract_cookies_to_jar", "            its cookies read"),
    (requests.sessions, "extract_cookies_to_jar", "        cookies kept for the session"),
):
    timed(owner, name, label)
for _ in range(job["calls"]):
    call()
_report(REPORT, {
    "ok": not bad,
    "bad": bad[:5],
    "call_s": wall / job["calls"],
    "client_cpu_s": cpu / job["calls"],
    "stages_s": {label: seconds / job["calls"] for label, seconds in spent.items()},
})
"""
)

# Where a warm invocation's time goes as the warm goal meets it: each invocation between
# bare SDK calls, whose code and data evict the handler's from the CPU caches (the hot
# loops of STAGES do not). A timer around each step of the handler's path, the SDK call
# included; per step, the median over the invocations, in seconds. The timers add their
# own cost: the handler's total here is above the warm measure's.
INSITU = (
    """
import functools
import gc
import json
import statistics
import sys
import time
"""
    + _PACKAGE_AND_SDK
    + """
job = json.loads(JOB)
rounds, warmup, bare_per_round = job["rounds"], job["warmup"], job["bare_per_round"]
index.initialize(_context("insitu-init", job))
from cams_delete import cams, config, credentials, deleter, entrypoints, extract, logs
from cams_delete import results, sources

context = _context("insitu", job)
settings = config.current_settings()
role = credentials.resolve(context)
endpoint = cams.Endpoint(settings.endpoint, settings.protocol, settings.region)
client = deleter._CLIENTS.get(endpoint, role)  # the handler's own, reused while keys stay
bare = _bare_client(job)
contexts = [_context("insitu-%d" % n, job) for n in range(warmup + rounds)]
"""
    + _TIMED
    + """


# In the order the handler takes them; none inside another but the last two.
STEPS = (
    (credentials, "find", "role keys found"),
    (logs, "bind_invocation", "log context bound"),
    (sources, "recognise", "event recognised"),
    (entrypoints, "current_settings", "settings read"),
    (extract, "from_single", "request extracted"),
    (deleter, "decide_without_cams", "validated, policy applied"),
    (deleter._CLIENTS, "get", "client looked up"),
    (client, "call_api", "the SDK call (call_api)"),
    (cams, "classify_body", "answer classified"),
    (deleter, "log_result", "deletion line"),
    (results.DeletionResult, "to_document", "result document"),
    (entrypoints, "_log_invocation", "invocation line"),
    (logs, "render_line", "  of the lines: rendered"),
    (logs.StdoutLogger, "msg", "  of the lines: written"),
)
for owner, name, label in STEPS:
    timed(owner, name, label)
# The logger holds the processor itself, not the module's name for it.
logs._processors[0] = logs.render_line
logs._logger = None
logs.configure(settings.log_level)
labels = [label for _, _, label in STEPS]
steps = {label: [] for label in labels}
handler_s, bare_s, bad = [], [], []


def run_handler(n):
    instance_id = "insitu-handler-%d" % n
    for label in labels:
        spent[label] = 0.0
    began = clock()
    result = index.handler(b'{"InstanceId": "%s"}' % instance_id.encode(), contexts[n])
    elapsed = clock() - began
    if result.get("Outcome") != "deleted":
        bad.append(("handler", instance_id, result.get("Code")))
    return elapsed


def run_bare(n, k):
    instance_id = "insitu-bare-%d-%d" % (n, k)
    began = clock()
    response = bare.delete_instance(DeleteInstanceRequest(instance_id=instance_id))
    elapsed = clock() - began
    if response.body.code != "OK":
        bad.append(("bare", instance_id, response.body.code))
    return elapsed


for n in range(warmup + rounds):
    if n == warmup:
        gc.collect()
    # The handler's place among the round's bare calls rotates.
    slot = n % (bare_per_round + 1)
    for k in range(bare_per_round + 1):
        if k == slot:
            elapsed = run_handler(n)
            if n >= warmup:
                handler_s.append(elapsed)
                for label in labels:
                    steps[label].append(spent[label])
        else:
            elapsed = run_bare(n, k)
            if n >= warmup:
                bare_s.append(elapsed)
own = [total - call for total, call in zip(handler_s, steps["the SDK call (call_api)"])]
outside = [
    total - sum(steps[label][n] for label in labels if not label.startswith(" "))
    for n, total in enumerate(handler_s)
]
_report(REPORT, {
    "ok": not bad,
    "bad": bad[:5],
    "handler_s": statistics.median(handler_s),
    "bare_s": statistics.median(bare_s),
    "handler_without_call_s": statistics.median(own),
    "steps_s": {label: statistics.median(values) for label, values in steps.items()},
    "between_steps_s": statistics.median(outside),
})
"""
)
