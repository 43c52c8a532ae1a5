#!/usr/bin/env python3
"""lmx serve driven by the official openai npm SDK (node/sdk.mjs): each SDK
check is reported as one test here. The SDK is installed into tests/e2e/node/
from the committed package-lock.json when missing."""
import os

from harness import main
from node_checks import register, run_driver
from server_util import MODEL, Server

_results = None


def results():
    global _results
    if _results is None:
        with Server('--parallel', 4, '-c', 2048, '-t', 1) as s:
            env = dict(os.environ, BASE_URL=f'http://127.0.0.1:{s.port}/v1', MODEL=MODEL)
            _results, _ = run_driver('sdk.mjs', env)
            s.stop()
            log = s.logs()
        if _results.get('abort_then_reuse', 1) is None and '"status":499' not in log:
            _results['abort_then_reuse'] = 'the server did not log the aborted stream as 499'
    return _results


register(results, ('models_list', 'chat_create', 'chat_stream_include_usage', 'chat_stream_helper', 'n3_seeded',
                   'logprobs', 'stop', 'completions_create', 'errors_map_to_sdk_classes', 'abort_then_reuse'), 'sdk')

if __name__ == '__main__':
    main()
