"""current_migration published with RCU: cleared in migration_shutdown(), the object freed by
call_rcu, every reader (the out-of-band migrate-pause handler included) in an RCU read section."""

from migration import ALL_HELPERS, DESIGNS, Protection, derive
from migration.model.effects import call_rcu_unref, load, qemu, read, shutdown_done, store
from migration.model.effects import rcu_read_lock as rcu_lock
from migration.model.effects import rcu_read_unlock as rcu_unlock


def migration_shutdown(w):
    s = yield from qemu(w, "migration_cancel")
    if s is not None:
        yield from store(w, "current_migration", None, "unpublished")
        shutdown_done(w)
        yield from call_rcu_unref(w, s)  # the main reference, after a grace period


def qmp_migrate_pause(w):
    yield from rcu_lock(w)
    ms = yield from load(w, "current_migration")
    if ms is not None:
        yield from read(w, ms, "ms->state (migration_postcopy_is_alive)")
    yield from rcu_unlock(w)


RCU_FREE = derive(DESIGNS["qemu-10.0"], "rcu-free", "RCU-published pointer, freed by call_rcu",
                  protection=Protection.RCU, null_checks=ALL_HELPERS,
                  functions={"migration_shutdown": migration_shutdown,
                             "qmp_migrate_pause": qmp_migrate_pause})
