"""vCPU threads that run device code asking a migration helper, and ``pause_all_vcpus()`` waiting for them.

A guest write to a device (a virtqueue kick, a virtio status write) exits to QEMU on the vCPU thread; the
access takes the BQL (``system/physmem.c:prepare_mmio_access`` from ``flatview_write_continue_step``, at
every tag from 9.1 to master) and runs the device's handler, which may ask whether a migration runs:

- ``hw/virtio/virtio-mem.c:virtio_mem_is_busy`` (the request queue's handler, on the vCPU thread when the
  queue has no ioeventfd, as under TCG): ``!migration_is_idle()`` at 9.1, ``migration_is_running()``
  from 9.2 (``migration_in_incoming_postcopy()`` reads the incoming state, which is never freed);
- ``net/vhost-vdpa.c:vhost_vdpa_net_data_start`` (the guest's ``DRIVER_OK``):
  ``migration_is_setup_or_active()`` at 9.1, ``migration_is_running()`` from 9.2.

Such a vCPU waits for the BQL from its exit on; it gets it when the main thread releases it, and in
``qemu_cleanup()`` that is inside ``pause_all_vcpus()`` (``system/cpus.c``): ``qemu_cond_wait(
&qemu_pause_cond, &bql)`` until every vCPU has parked, so the handler runs there, after
``migration_shutdown()``'s unref, before the main thread takes the BQL back.  A vCPU parks once its
access is done (``cpu->stop``); the model's vCPU makes one access.

Typeguard skips these (``@typeguard_ignore``); mypy ``--strict`` checks them.
"""

from __future__ import annotations

from collections.abc import Callable, Generator

from typeguard import typeguard_ignore

from migration.model.functions import qemu, qemu_function
from migration.model.heap import LockState
from migration.model.helpers import call, exported_helper
from migration.model.runtime import Actor, Block, Pending, World

__all__ = ["DEVICE_FUNCTIONS", "VCPU", "vcpu_body"]

#: the base name of a vCPU actor (``vcpu``, ``vcpu#2``...)
VCPU = "vcpu"

#: the ``vcpu_device`` event's ``device`` -> the QEMU function its vCPU runs
DEVICE_FUNCTIONS: dict[str, str] = {"virtio-mem": "virtio_mem_is_busy",
                                    "vhost-vdpa": "vhost_vdpa_net_data_start"}

Body = Callable[[World, Actor], Generator[Pending, None, None]]


@typeguard_ignore
def vcpu_body(device: str) -> Body:
    """:param device: a key of :data:`DEVICE_FUNCTIONS`.
    :return: the vCPU's body: take the BQL for the access, run the device's function, release the BQL.
    """

    @typeguard_ignore
    def body(w: World, a: Actor) -> Generator[Pending, None, None]:
        yield from call(w, "flatview_write_continue_step", w.lock(w.bql))
        yield from qemu(w, DEVICE_FUNCTIONS[device])
        yield from call(w, "flatview_write_continue_step", w.unlock(w.bql))

    return body


@qemu_function("virtio_mem_is_busy", "() -> None",
               "virtio-mem's request handler on a vCPU thread (BQL held): migration_is_idle() at 9.1, "
               "migration_is_running() from 9.2")
@typeguard_ignore
def _virtio_mem_is_busy(w: World) -> Generator[Pending, None, None]:
    yield from exported_helper(w, "migration_is_idle" if w.design.tag == "9.1" else "migration_is_running")


@qemu_function("vhost_vdpa_net_data_start", "() -> None",
               "vhost-vdpa's start on the guest's DRIVER_OK, on a vCPU thread (BQL held): "
               "migration_is_setup_or_active() at 9.1, migration_is_running() from 9.2")
@typeguard_ignore
def _vhost_vdpa_net_data_start(w: World) -> Generator[Pending, None, None]:
    yield from exported_helper(w, "migration_is_setup_or_active" if w.design.tag == "9.1"
                               else "migration_is_running")


@qemu_function("pause_all_vcpus", "() -> None",
               "release the BQL until every vCPU has parked (qemu_cond_wait on qemu_pause_cond), then take "
               "it back")
@typeguard_ignore
def _pause_all_vcpus(w: World) -> Generator[Pending, None, None]:
    yield from w.unlock(w.bql)
    # the vCPUs now, each waited for in turn (an index, not a ``for`` loop: nothing but variables is live
    # across a step, framekey and clone)
    vcpus = [a for a in w.actors if a.name.partition("#")[0] == VCPU]
    i = 0
    while i < len(vcpus):
        a = vcpus[i]
        i += 1
        if not a.done:
            yield from w.wait_for(a.name, "qemu_cond_wait(&qemu_pause_cond, &bql)")

    @typeguard_ignore
    def blocker() -> Block | None:
        owner = w.bql.owner
        return None if owner is None else Block(f"waits for BQL held by {owner}", owner)

    yield Pending("pause_all_vcpus: bql_lock", blocker)
    w.bql.state, w.bql.owner = LockState.HELD, "main"
    w.record("pause_all_vcpus: bql_lock")
