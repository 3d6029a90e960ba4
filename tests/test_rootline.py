"""Root-error detection never goes blind, prefers the deepest cause, and reads every identifier family."""

from __future__ import annotations

import pytest

from bot.contract import Alert
from bot.offline.classify import classify
from bot.offline.rootline import Ident, candidates, identifiers, judge, strip_prefix
from bot.sandbox import Excerpt, Line


def lines(text: str) -> list[Line]:
    return [Line(i, t) for i, t in enumerate(text.strip("\n").splitlines(), 1)]


def excerpt(text: str) -> Excerpt:
    return Excerpt(path="run.log", lines=lines(text), size=len(text))


# ------------------------------------------------------------------ never blind

BLIND_BEFORE = {  # shapes the wave-1 engine answered with "no error line found"
    "python exception behind a logger prefix": (
        "2024-03-01 02:00:01,123 - etl.loader - INFO - loading widgets\n"
        "Traceback (most recent call last):\n"
        '  File "/app/load.py", line 3, in load\n'
        "    check(w)\n"
        "acme.loader.WidgetMismatch: widget 42 has no frobnicator\n", "WidgetMismatch: widget 42"),
    "a CRITICAL line": ("[2024-03-01T02:00:00Z] CRITICAL worker-3 lost its lease on shard 12\n", "lost its lease"),
    "glog E-line": ("E1201 10:00:00.123456   1 sync.go:12] failed to sync bucket landing: quorum not reached\n",
                    "failed to sync bucket landing"),
    "a database error with its code": ("ERROR: relation widgets_v2 is unusable (SQLSTATE XX001)\n", "widgets_v2"),
    "a warehouse load error naming the field": (
        "Error while reading data, error message: CSV table references column position 40, but line contains "
        "only 40 columns.; line_number: 2\n", "column position 40"),
    "a final line with no error word at all": ("Reading landing/orders\nFile is not a zip file\n",
                                                "File is not a zip file"),
    # eval/real/hdfs_spark_example_master_9000_no_service_retrying (dev): the run ends in the client's retries
    "a client retrying its server until the log ends": (
        "14/02/08 16:34:58 INFO ipc.Client: Retrying connect to server: master/172.17.0.3:9000. Already tried 5 "
        "time(s); retry policy is RetryUpToMaximumCountWithFixedSleep(maxRetries=10, sleepTime=1 SECONDS)\n"
        "14/02/08 16:34:59 INFO ipc.Client: Retrying connect to server: master/172.17.0.3:9000. Already tried 6 "
        "time(s); retry policy is RetryUpToMaximumCountWithFixedSleep(maxRetries=10, sleepTime=1 SECONDS)\n",
        "master/172.17.0.3:9000"),
}


@pytest.mark.parametrize("name", sorted(BLIND_BEFORE))
def test_a_log_with_an_error_line_is_never_blind_and_the_line_is_quoted(name):
    log, quoted = BLIND_BEFORE[name]
    c = classify(excerpt(log), Alert())
    assert "no error line found" not in c.summary
    assert quoted in c.summary or any(quoted in e.text for e in c.evidence), (c.summary, c.evidence)


def test_only_orchestrator_summaries_is_still_unknown():
    log = """
[2026-11-20, 08:03:17 UTC] {subprocess.py:93} INFO - exported 0 rows to staging
[2026-11-20, 08:03:17 UTC] {taskinstance.py:1400} INFO - Marking task as FAILED. dag_id=noise_only, task_id=export
[2026-11-20, 08:03:17 UTC] {local_task_job_runner.py:228} INFO - Task exited with return code 1
"""
    assert candidates(lines(log)) == [] or all("last_line" in c.marks for c in candidates(lines(log)))


def test_a_retry_that_was_resolved_long_before_the_end_is_not_the_cause():
    """Only a log that ends in its retries is failing on them; one followed by 'Connected' and progress is not."""
    log = ("2024-03-01 02:00:01,123 INFO kafka.Producer: Retrying connection to broker kafka-1:9092 (attempt 1)\n"
           "2024-03-01 02:00:02,123 INFO kafka.Producer: Connected to broker kafka-1:9092\n"
           + "".join(f"2024-03-01 02:01:{i:02d},000 INFO etl.load: wrote batch {i}\n" for i in range(50)))
    assert candidates(lines(log)) == []
    assert "Retrying" not in classify(excerpt(log), Alert()).summary


def test_a_jvm_loggers_name_is_not_read_as_an_exception_class():
    """log4j prints `LEVEL Logger: message`: 'FileFormatWriter' is who logged, and its 'Format' says nothing
    about the input (it had made the demo's YARN kill offer 'or perhaps DATA: the name says a format')."""
    spark = candidates(lines("26/11/20 03:43:10 ERROR FileFormatWriter: Aborting job 4b7c.\n"))
    assert all(i.key != "FileFormatWriter" for c in spark for i in c.ids)
    python = candidates(lines("acme.loader.WidgetMismatch: widget 42 has no frobnicator\n"
                              "WidgetMismatch: widget 43 has no frobnicator\n"))
    assert {i.key for c in python for i in c.ids} >= {"acme.loader.WidgetMismatch", "WidgetMismatch"}


# ------------------------------------------------------------------ depth

def test_the_innermost_caused_by_wins_over_its_wrappers():
    log = """
org.apache.spark.SparkException: Job aborted due to stage failure: Task 0 in stage 1.0 failed 4 times
\tat org.apache.spark.scheduler.DAGScheduler.failJobAndIndependentStages(DAGScheduler.scala:2454)
Caused by: java.lang.RuntimeException: wrapped
\tat x.y(Z.java:1)
Caused by: java.lang.ClassCastException: class java.lang.Long cannot be cast to class java.lang.Integer
\tat x.y(Z.java:2)
"""
    best = candidates(lines(log))[0]
    assert "ClassCastException" in best.message
    j = judge(candidates(lines(log)))
    assert j is not None and j.ident.key == "java.lang.ClassCastException" and j.entry.cat == "code"


def test_a_chained_python_traceback_ranks_the_direct_cause_first():
    log = """
Traceback (most recent call last):
  File "/app/db.py", line 10, in connect
psycopg2.OperationalError: could not connect to server: Connection refused
The above exception was the direct cause of the following exception:
Traceback (most recent call last):
  File "/app/job.py", line 4, in run
acme.jobs.LoadFailed: load of orders failed
"""
    best = candidates(lines(log))[0]
    assert best.message.startswith("psycopg2.OperationalError")


def test_a_wrapper_exception_is_looked_past_for_the_cause_it_carries():
    log = """
[2026-03-01, 02:00:00 UTC] {taskinstance.py:1937} ERROR - Task failed with exception
google.api_core.exceptions.Forbidden: 403 Access Denied: Table acme:raw.orders: Permission tables.getData denied
airflow.exceptions.AirflowException: Task failed
"""
    j = judge(candidates(lines(log)))
    assert j is not None and j.entry.cat == "infra" and j.entry.role == "cause"


# ------------------------------------------------------------------ identifiers of every family

@pytest.mark.parametrize(("message", "ident"), [
    ("ORA-01652: unable to extend temp segment by 128 in tablespace TEMP", Ident("vendor", "ora:01652")),
    ("100038 (22018): Numeric value 'abc' is not recognized", Ident("vendor", "snowflake:100038")),
    ("100038 (22018): Numeric value 'abc' is not recognized", Ident("sqlstate", "22018")),
    ("ERROR 1062 (23000): Duplicate entry '42' for key 'PRIMARY'", Ident("vendor", "mysql:1062")),
    ('pymysql.err.OperationalError: (2003, "Can\'t connect to MySQL server")', Ident("vendor", "mysql:2003")),
    ("Msg 2627, Level 14, State 1: Violation of PRIMARY KEY constraint", Ident("vendor", "mssql:2627")),
    ("('42S02', \"[42S02] [Microsoft][ODBC Driver 17 for SQL Server][SQL Server]Invalid object name 'x'. (208)\")",
     Ident("vendor", "mssql:208")),
    ("{'reason': 'quotaExceeded', 'message': 'Quota exceeded'}", Ident("vendor", "bigquery:quotaExceeded")),
    ("[UNRESOLVED_COLUMN.WITH_SUGGESTION] A column or function parameter with name `x` cannot be resolved",
     Ident("vendor", "spark:UNRESOLVED_COLUMN")),
    ("ERROR: permission denied for table accounts (SQLSTATE 42501)", Ident("sqlstate", "42501")),
    ("requests.exceptions.HTTPError: 503 Server Error: Service Unavailable", Ident("http", "503")),
    ("OSError: [Errno 28] No space left on device", Ident("errno", "ENOSPC")),
    ("connect ECONNREFUSED 10.0.0.1:5432", Ident("errno", "ECONNREFUSED")),
    ("Task exited with return code Negsignal.SIGKILL", Ident("signal", "SIGKILL")),
    ("Container exited with exit code 137", Ident("exit", "137")),
    ("An error occurred (SlowDown) when calling the PutObject operation", Ident("cloud", "SlowDown")),
    ("botocore.exceptions.NoCredentialsError: Unable to locate credentials",
     Ident("exception", "botocore.exceptions.NoCredentialsError")),
])
def test_identifiers_of_each_family_are_read(message, ident):
    assert ident in identifiers(message)


def test_logger_prefixes_are_stripped_and_their_level_kept():
    assert strip_prefix("[2026-11-20, 03:31:03 UTC] {taskinstance.py:1937} ERROR - Task failed") == \
        ("Task failed", "ERROR")
    assert strip_prefix("2024-03-01 02:00:01,123 - etl.loader - ERROR - boom") == ("boom", "ERROR")
    assert strip_prefix("24/01/01 10:00:00 WARN TaskSetManager: Lost task") == ("TaskSetManager: Lost task", "WARN")


def test_the_spark2_yarn_memory_kill_phrasing_is_infra():
    # the wave-1 pattern insisted on "physical|virtual" before "memory limits"
    log = ("ExecutorLostFailure (executor 7 exited caused by one of the running tasks) Reason: Container killed by "
           "YARN for exceeding memory limits. 12.4 GB of 12 GB physical memory used.\n")
    c = classify(excerpt(log), Alert())
    assert (c.category, c.signature) == ("infra", "spark.yarn_memory_kill")
    assert "12.4 GB of 12 GB" in c.summary


def test_error_spam_analyses_a_bounded_number_of_lines():
    spam = "\n".join(f"ERROR - retry {i}: java.io.IOException: Connection reset by peer" for i in range(5000))
    found = candidates(lines(spam + "\nERROR - java.lang.OutOfMemoryError: Java heap space\n"))
    assert "OutOfMemoryError" in found[0].message
    assert len(found) <= 8


# ------------------------------------------------------------------ headers and level words

def test_a_header_ranks_below_the_message_under_it():
    """dbt prints `Runtime Error in model x (path)` and the database's message on the next line; Nextflow prints
    `Command error:` over the tool's stderr; a nested `Runtime Error` / `Runtime Error` is read through. Before,
    the header won (its word "Error" read as a level) and the answer quoted a line that names no cause."""
    dbt = lines("23:26:36  Completed with 1 error and 0 warnings:\n23:26:36  \n"
                "23:26:36  Runtime Error in model stg_ads (models/tmp/stg_ads.sql)\n"
                "23:26:36    404 Not found: Table acme:facebook_ads.basic_ad was not found in location EU\n"
                "23:26:36  Done. PASS=12 WARN=0 ERROR=1 SKIP=6 TOTAL=19\n")
    assert "basic_ad was not found" in candidates(dbt)[0].message
    nested = lines("Encountered an error:\nRuntime Error\n  Runtime Error\n"
                   "    TEMPORARILY_UNAVAILABLE: Cluster etl is temporarily unavailable. Please retry later.\n")
    assert candidates(nested)[0].message.startswith("TEMPORARILY_UNAVAILABLE")
    nextflow = lines("Command exit status:\n  255\nCommand error:\n  [ERRO] reads_2.fastq.gz: unexpected EOF\n")
    assert "unexpected EOF" in candidates(nextflow)[0].message
    assert all(c.message != "255" for c in candidates(nextflow))   # a value under a header is not a message
    gtfs = lines("[2020-11-19 10:17:17.249] ERROR: Could not parse input GTFS feed, reason was:\n"
                 "gtfs/fr-sw_gtfs/stops.txt:10943: in field 'stop_name', expected non-empty string\n")
    assert "expected non-empty string" in candidates(gtfs)[0].message   # a header of eight words


def test_the_word_error_is_not_a_level_marker_but_error_levels_are():
    """`make: *** [Makefile:333: import] Error 1` summarises; `[fatal]` and `ERROR` mark the line that failed."""
    log = lines('0:21:40 [fatal] bulk insert into "osm_building": SQL Error: pq: could not extend file '
                '"base/16384/49834.8": wrote only 4096 of 8192 bytes\nmake: *** [Makefile:333: import-osm] Error 1\n')
    ranked = candidates(log)
    assert "could not extend file" in ranked[0].message and "level" in ranked[0].marks
    assert "level" not in next(c for c in ranked if c.message.startswith("make:")).marks
    assert "level" in candidates(lines("error: failed to push some refs\n"))[0].marks


def test_a_dbt_header_naming_its_error_kind_ranks_below_the_message():
    """`Failed to read package: Runtime Error` is a header like `Runtime Error`: the version clash is under it."""
    log = lines("Runtime Error\n  Failed to read package: Runtime Error\n"
                "    This version of dbt is not supported with the 'dbt_utils' package.\n")
    assert candidates(log)[0].message.startswith("This version of dbt is not supported")


def test_tilde_prefixed_error_chains_are_messages_and_the_innermost_wins():
    """Sling prints its error chain as `~ could not …` lines, outermost first. A tilde only counts as a Python
    3.11 underline when the line holds nothing else; before, every chain line was a 'summary' and lost to
    `INF execution failed`, and the innermost 'did not find any columns' was not an error line at all."""
    log = lines("10:59AM INF execution failed\nfatal:\n~ \n~ execution failed\n~ could not write to database\n"
                "~ could not get column list for public.WH2A\n"
                'did not find any columns for table: "public"."WH2A"\n')
    ranked = candidates(log)
    assert ranked[0].message.startswith("did not find any columns")
    assert all("summary" not in c.marks for c in ranked if c.message.startswith("~ could not"))
    underline = candidates(lines("    total = a + b\n            ~~^~~\nTypeError: unsupported operand\n"))
    assert underline[0].message.startswith("TypeError")


def test_a_mysql_client_error_keeps_its_code_when_error_reads_as_the_level():
    """`ERROR 1114 (HY000) at line 8834: …` from the mysql client: the prefix pass takes `ERROR` for a level word,
    and the code that decides it (1114: the table is full, i.e. the disk) was lost with it."""
    ranked = candidates(lines("ERROR 1114 (HY000) at line 8834: The table 'orders' is full\n"))
    assert Ident("vendor", "mysql:1114") in ranked[0].ids
    c = classify(excerpt("ERROR 1114 (HY000) at line 8834: The table 'orders' is full\n"), Alert())
    assert c.category == "infra", c.summary


def test_a_yarn_application_reports_diagnostics_line_is_its_cause():
    """A YARN report says why the application never started on its `diagnostics:` line, in prose with no error
    word; before, the answer quoted the report's last field (`user: root`)."""
    log = ("18/01/06 21:37:56 INFO yarn.Client: Application report for application_1515274638576_0001 "
           "(state: ACCEPTED)\n"
           "         client token: N/A\n"
           "         diagnostics: [Sat Jan 06 21:37:55 +0000 2018] Application is added to the scheduler and is not "
           "yet activated. Skipping AM assignment as cluster resource is empty.\n"
           "         queue: default\n         user: root\n")
    assert candidates(lines(log))[0].message.startswith("diagnostics:")
    c = classify(excerpt(log), Alert())
    assert (c.category, c.signature) == ("infra", "spark.no_resources")
    assert candidates(lines("         diagnostics: N/A\n")) == [] or \
        all("phrase" not in c.marks for c in candidates(lines("         diagnostics: N/A\n")))


def test_terraforms_diagnostic_box_is_a_prefix_and_its_quota_error_is_infra():
    """Terraform draws `│ ` before every line of a diagnostic; the `Error:` after it is the level."""
    assert strip_prefix("│ Error: Error creating Dataproc cluster")[0] == "Error: Error creating Dataproc cluster"
    log = ("google_dataproc_cluster.spark: Creating...\n╷\n"
           "│ Error: Error creating Dataproc cluster: googleapi: Error 400: Multiple validation errors:\n"
           "│  - Insufficient 'CPUS' quota. Requested 6.0, available 4.0.\n│\n")
    assert "level" in candidates(lines(log))[0].marks
    c = classify(excerpt(log), Alert())
    assert (c.category, c.signature) == ("infra", "cloud.quota") and "CPUS" in c.summary, c.summary
