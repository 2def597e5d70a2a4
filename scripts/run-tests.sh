#!/usr/bin/env bash
# `make test`: the whole suite, in three streams at once, each with its own Redis, FerretDB,
# SMTP server and Chromium: the admin app's tests (tests/ui, tests/e2e) in one pytest
# process, everything else in two pytest-xdist workers (a file stays on one worker, so its
# module fixtures are built once). Most tests wait on processes and services rather than
# compute, so two cores run three streams well. The admin app's tests get a process of their
# own because NiceGUI's app is process-wide: once a simulated user has started it, an
# in-process API app cannot be built in that process any more.
# Each stream lists its slowest tests at the end (--durations), to see what to split when
# the suite nears its ten minutes.
# With arguments (`make test PYTEST_ARGS=tests/test_x.py`), pytest runs just those, serially.
set -uo pipefail
cd "$(dirname "$0")/.."
python=.venv/bin/python
if [ $# -gt 0 ]; then
    exec "$python" -m pytest "$@"
fi
logs=$(mktemp -d)
"$python" -m pytest --durations=10 tests/ui tests/e2e >"$logs/admin-app.log" 2>&1 &
admin_app=$!
"$python" -m pytest -n 2 --dist loadfile --durations=25 --ignore=tests/ui --ignore=tests/e2e \
    >"$logs/rest.log" 2>&1 &
rest=$!
wait "$admin_app"
admin_app_status=$?
wait "$rest"
rest_status=$?
for stream in admin-app rest; do
    echo "===== make test: $stream ====="
    cat "$logs/$stream.log"
done
rm -rf "$logs"
echo "make test: admin app tests exit $admin_app_status, the rest exit $rest_status"
[ "$admin_app_status" -eq 0 ] && [ "$rest_status" -eq 0 ]
