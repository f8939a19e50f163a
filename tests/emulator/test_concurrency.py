"""Many SDK clients at once: every instance is deleted exactly once."""

from __future__ import annotations

import asyncio
import random
import threading
from collections import Counter

from alibabacloud_cams20200606 import models

from cams_emulator import NOT_FOUND_CODE, CamsEmulator
from tests.emulator.support import Sdk, credentials, make_client

INSTANCES = [f"race-{n}" for n in range(40)]
THREADS = 8


def test_concurrent_deletes_of_the_same_instances_succeed_once_each():
    # GIVEN 40 instances and 8 threads, each with its own SDK client, each set to delete all 40
    with CamsEmulator(credentials=credentials(), instances=INSTANCES) as emu:
        codes: dict[str, list[str]] = {instance: [] for instance in INSTANCES}
        lock = threading.Lock()
        start = threading.Barrier(THREADS)

        def worker(seed: int) -> None:
            sdk = Sdk(make_client(emu), "sync")
            order = INSTANCES[:]
            random.Random(seed).shuffle(order)
            start.wait()
            for instance in order:
                code = sdk.delete(instance).body.code
                with lock:
                    codes[instance].append(code)

        # WHEN they all run at once
        threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        # THEN each instance got exactly one OK and THREADS-1 not-found answers
        for instance, answers in codes.items():
            assert Counter(answers) == {"OK": 1, NOT_FOUND_CODE: THREADS - 1}, instance
        assert emu.instances() == set()
        # AND the journal holds every request, each with an arrival time
        calls = emu.calls()
        assert len(calls) == len(INSTANCES) * THREADS
        assert sum(entry.code == "OK" for entry in calls) == len(INSTANCES)


def test_concurrent_async_deletes_succeed_once_each():
    # GIVEN 40 instances and, per instance, three concurrent async deletes
    with CamsEmulator(credentials=credentials(), instances=INSTANCES) as emu:
        client = make_client(emu)

        async def delete_all() -> list[str]:
            calls = [
                client.delete_instance_async(models.DeleteInstanceRequest(instance_id=instance))
                for instance in INSTANCES
                for _ in range(3)
            ]
            return [response.body.code for response in await asyncio.gather(*calls)]

        # WHEN they run together on one event loop
        codes = asyncio.run(delete_all())
        # THEN exactly one OK per instance
        assert Counter(codes) == {"OK": len(INSTANCES), NOT_FOUND_CODE: 2 * len(INSTANCES)}
        assert emu.instances() == set()
