"""The machine owns MigrationState: migration_shutdown() joins the migration thread with the BQL
released, and the last reference is dropped in machine finalize, after monitor_cleanup()."""

from migration import DESIGNS, derive
from migration.model.effects import bql_lock, bql_unlock, join, load, qemu, shutdown_done, started, unref


def migration_shutdown(w):
    s = yield from qemu(w, "migration_cancel")
    if s is not None and started(w, "T_mig"):
        yield from bql_unlock(w)  # the thread's last steps take the BQL
        yield from join(w, "T_mig")
        yield from bql_lock(w)
    shutdown_done(w)  # keep the main reference: the machine drops it


def machine_finalize(w):
    s = yield from load(w, "current_migration")
    if s is not None:
        yield from unref(w, s)


MACHINE_OWNS = derive(DESIGNS["qemu-10.0"], "machine-owns",
                      "join with the BQL released in migration_shutdown(); unref in machine finalize",
                      functions={"migration_shutdown": migration_shutdown,
                                 "machine_finalize": machine_finalize})
