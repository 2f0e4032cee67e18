"""Run PyTorch programs one after another in this process and report what each printed.

``python _driver.py a.py b.py ...`` runs each script with :func:`runpy.run_path` (as ``__main__``,
its own globals), captures its stdout, and prints one JSON object at the end:
``{"a.py": {"ok": true, "out": "...", "error": "", "seconds": 0.4}, ...}``. One process for all
scripts pays the imports (and, for micrograd_plus, the kernels' compiled-code cache load) once.
Which ``torch`` the scripts get is decided by the caller's ``PYTHONPATH``.
"""

import contextlib
import io
import json
import os
import runpy
import sys
import time
import traceback

results = {}
for path in sys.argv[1:]:
    out = io.StringIO()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(path, run_name="__main__")
        ok, error = True, ""
    except BaseException:  # noqa: BLE001 -- a failing program is a result, not the driver's end
        ok, error = False, traceback.format_exc(limit=-3)
    results[os.path.basename(path)] = {"ok": ok, "out": out.getvalue(), "error": error,
                                       "seconds": round(time.perf_counter() - start, 2)}
print("=== results ===")
print(json.dumps(results))
