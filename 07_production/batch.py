"""Chapter 07: batch predictions on this machine (``make batch``), with the Lambda handler's own code.

    python solutions/07_production/batch.py INPUT OUTPUT [--workers N] [--retry-errors]

INPUT is a folder (every file in it and its subfolders, hidden ones left out, each sent to the handler as a direct
invocation ``{"image": "<base64 of the file>"}``) or a text file of image URLs (one a line; blank lines and lines
starting with ``#`` are skipped; each sent as ``{"url": ...}``). A repeated input is classified once.

OUTPUT gets one JSON line per input: ``{"input": ..., **the handler's answer}``: the prediction, or
``{"error": {"status", "code", "message"}}`` with the handler's documented codes (the README's "Errors"), plus two
of this script's: 500 ``worker_died`` (the worker process died on that input) and 500 ``internal_error`` (the
handler raised). ``input`` is the URL, or the file's path relative to the folder. Lines are written as items finish,
so their order is the order of completion, not of the inputs: join on ``input``.

Worker processes (``--workers``, default: the CPU count) each import the handler once (the model loaded once per
worker, as in one Lambda execution environment) and classify one input at a time; a bad input never stops the
batch. Interrupted (Ctrl-C, a kill, a crash), the run resumes: OUTPUT's complete lines are kept and their inputs not
classified again; a torn last line (the run stopped while writing it) is dropped and its input classified again.
``--retry-errors`` classifies the inputs whose line is an error again (a host that was down, a timeout).
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import signal
import sys
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

from tutorial_support.lambda_runtime import load_handler
from tutorial_support.paths import HANDLER_DIR

# A file is read up to this many bytes: more than the handler accepts (safe_image.MAX_UPLOAD_BYTES, from Lambda's
# 6 MB payload), so the handler refuses a larger one with its own error, and a stray video is never read whole.
READ_LIMIT_BYTES = 16 * 2**20

_handler = None  # the handler function of this worker process (_start_worker)


def read_inputs(source: Path) -> list[tuple[str, str, str]]:
    """The inputs of ``source``, in order, each once.

    Returns:
        ``(kind, input, location)`` triples: ``("file", path relative to the folder, absolute path)`` for a folder
        (sorted; hidden files and folders left out), ``("url", url, url)`` for a file of URLs.

    Raises:
        FileNotFoundError: ``source`` does not exist.
    """
    source = Path(source)
    if source.is_dir():
        files = (p for p in sorted(source.rglob("*")) if p.is_file()
                 and not any(part.startswith(".") for part in p.relative_to(source).parts))
        return [("file", p.relative_to(source).as_posix(), str(p)) for p in files]
    if not source.is_file():
        raise FileNotFoundError(source)
    urls = [line.strip() for line in source.read_text(encoding="utf-8").splitlines()]
    return [("url", url, url) for url in dict.fromkeys(u for u in urls if u and not u.startswith("#"))]


def read_finished(output: Path, retry_errors: bool = False) -> dict[str, dict]:
    """The lines of ``output`` that are finished, by input; ``output`` is rewritten to hold only those.

    A finished line is a complete line (ending in a newline) holding a JSON object with a string ``input``. A torn
    last line, a line that is not such an object, a repeated input (the first line kept) and, with
    ``retry_errors``, an error line, are dropped from the file, so that their inputs are classified again.
    """
    # TODO: return {input: record} of the finished lines of output (none when it does not exist), and rewrite the file without the lines that are dropped (a torn last line, a line that is not a JSON object with a string "input", a repeated input, and with retry_errors an error line).
    raise NotImplementedError('return {input: record} of the finished lines of output (none when it does not exist), and rewrite the file without the lines that are dropped (a torn last line, a line that is not a JSON object with a string "input", a repeated input, and with retry_errors an error line).')


def _start_worker(task_root: str) -> None:
    """Each worker: import the handler once; Ctrl-C is the parent's to handle."""
    global _handler
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _handler = load_handler(Path(task_root))


def _error(status: int, code: str, message: str) -> dict:
    return {"error": {"status": status, "code": code, "message": message}}


def classify(task: tuple[str, str, str]) -> dict:
    """One input's line, in a worker: the handler's answer to its direct-invocation event."""
    kind, name, location = task
    try:
        if kind == "file":
            with open(location, "rb") as file:
                event = {"image": base64.b64encode(file.read(READ_LIMIT_BYTES + 1)).decode("ascii")}
        else:
            event = {"url": location}
        answer = _handler(event, None)
    except OSError as e:
        answer = _error(400, "unreadable_file", f"the file could not be read: {e.strerror}")
    except Exception as e:  # the handler answers every bad input itself; anything else is a fault
        answer = _error(500, "internal_error", f"the handler raised {type(e).__name__}")
    return {"input": name, **(answer if isinstance(answer, dict) else {"answer": answer})}


@dataclass
class Summary:
    """What a run did: inputs in all, finished before it, classified by it, and its error lines by code."""

    inputs: int = 0
    already_done: int = 0
    classified: int = 0
    errors: Counter = field(default_factory=Counter)


class _Progress:
    """tqdm's bar when tqdm is installed, else a counter on stderr; nothing when ``enabled`` is false."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.bar = total, 0, None
        self.enabled = enabled
        if enabled:
            try:
                from tqdm import tqdm
                self.bar = tqdm(total=total, unit="image", file=sys.stderr)
            except ImportError:
                pass

    def update(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update()
        elif self.enabled:
            print(f"\r{self.done}/{self.total}", end="" if self.done < self.total else "\n", file=sys.stderr,
                  flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _classify_all(todo: list, workers: int, task_root: Path, record) -> None:
    """Classify ``todo`` in worker processes, calling ``record(line)`` for each line as it comes.

    A worker that dies (a crash, an out-of-memory kill) breaks the pool, and the inputs in flight at that moment are
    suspects: each is then classified alone, in a pool of one worker, so that the one that kills its worker again
    gets a ``worker_died`` line and the others their answers; the rest go on in a full pool.
    """
    pending, suspects = deque(todo), deque()
    context = multiprocessing.get_context("spawn")  # fresh workers: no copy of this process's threads or locks
    while pending or suspects:
        alone = bool(suspects)
        queue, size = (suspects, 1) if alone else (pending, workers)
        pool = ProcessPoolExecutor(max_workers=size, mp_context=context, initializer=_start_worker,
                                   initargs=(str(task_root),))
        in_flight = {}
        try:
            while queue or in_flight:
                while queue and len(in_flight) < (1 if alone else 2 * size):
                    task = queue.popleft()
                    in_flight[pool.submit(classify, task)] = task
                done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in done:
                    line = future.result()  # BrokenProcessPool when a worker died
                    del in_flight[future]
                    record(line)
        except BrokenProcessPool:
            if alone:
                (task,) = in_flight.values()
                record({"input": task[1], **_error(500, "worker_died", "the worker process died while classifying "
                                                   "this input (a crash, or killed for memory)")})
            else:
                suspects.extend(in_flight.values())
        finally:
            pool.shutdown(wait=True, cancel_futures=True)


def run(source: Path, output: Path, workers: int | None = None, retry_errors: bool = False, progress: bool = True,
        task_root: Path = HANDLER_DIR) -> Summary:
    """Classify every input of ``source`` not finished in ``output`` (see the module's docstring), appending one
    line per input to ``output`` as each finishes.

    Args:
        workers: worker processes (default: the CPU count; never more than the inputs left).
        task_root: the folder of the handler (``lambda_function.lambda_handler``): chapter 03's by default.

    Raises:
        FileNotFoundError: ``source`` does not exist.
    """
    inputs = read_inputs(source)
    finished = read_finished(output, retry_errors)
    todo = [task for task in inputs if task[1] not in finished]
    summary = Summary(inputs=len(inputs), already_done=len(inputs) - len(todo))
    if not todo:
        return summary
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    bar = _Progress(len(todo), progress)
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    with open(output, "a", encoding="utf-8") as out:
        def record(line: dict) -> None:
            out.write(json.dumps(line) + "\n")
            out.flush()  # a line is on disk (in the OS's hands) as soon as it is finished
            summary.classified += 1
            error = line.get("error")
            if isinstance(error, dict):
                summary.errors[error.get("code")] += 1
            bar.update()

        try:
            _classify_all(todo, workers, Path(task_root), record)
        finally:
            bar.close()
    return summary


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", type=Path, help="a folder of images, or a text file of image URLs (one a line)")
    parser.add_argument("output", type=Path, help="the JSON Lines file of results (resumed when it exists)")
    parser.add_argument("--workers", type=int, help="worker processes (default: the CPU count)")
    parser.add_argument("--retry-errors", action="store_true", help="classify the inputs that got an error again")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if not args.input.exists():
        print(f"error: {args.input} does not exist. Give a folder of images or a text file of image URLs, one a "
              "line: make batch INPUT=samples OUTPUT=results.jsonl", file=sys.stderr)
        return 2
    try:
        summary = run(args.input, args.output, args.workers, args.retry_errors, not args.no_progress)
    except KeyboardInterrupt:
        print(f"\ninterrupted: the lines finished so far are in {args.output}; run the same command again to "
              "classify the rest", file=sys.stderr)
        return 130
    errors = ", ".join(f"{code} {n}" for code, n in summary.errors.most_common()) or "none"
    print(f"{summary.inputs} inputs: {summary.already_done} finished before, {summary.classified} classified now "
          f"(errors: {errors}); results in {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
