"""Where each step of the model lives in QEMU's source, tag by tag.

Every actor step is recorded with the QEMU function it stands for
(:attr:`migration.model.outcomes.TraceStep.function`), as ``file:function`` at the design's
tag, so that a maintainer can follow a counterexample in the source.  Functions that were
renamed between tags (``migrate_fd_cleanup`` -> ``migration_cleanup`` in 10.0,
``migrate_fd_connect`` -> ``migration_connect`` -> ``migration_start_outgoing`` on master,
``migrate_fd_cancel`` folded into ``migration_cancel`` in 10.0) name the tag's function.
"""

from __future__ import annotations

from functools import cache

__all__ = ["SOURCES", "source"]

_MM = "migration/migration.c"

#: step key -> (default ``file:function``, {tag: ``file:function``} where a tag differs)
SOURCES: dict[str, tuple[str, dict[str, str]]] = {
    "qemu_cleanup": ("system/runstate.c:qemu_cleanup", {"7.2": "softmmu/runstate.c:qemu_cleanup"}),
    "migration_object_init": (f"{_MM}:migration_object_init", {}),
    "migrate_get_current": (f"{_MM}:migrate_get_current", {}),
    "qmp_migrate": (f"{_MM}:qmp_migrate", {}),
    "migrate_add_blocker": (f"{_MM}:migrate_add_blocker", {}),
    "is_busy": (f"{_MM}:is_busy", {"7.2": f"{_MM}:migrate_add_blocker_internal"}),
    "connect": (f"{_MM}:migration_connect", {"7.2": f"{_MM}:migrate_fd_connect",
                                             "9.1": f"{_MM}:migrate_fd_connect",
                                             "9.2": f"{_MM}:migrate_fd_connect",
                                             "master": f"{_MM}:migration_start_outgoing"}),
    "migration_thread": (f"{_MM}:migration_thread", {}),
    "migration_iteration_finish": (f"{_MM}:migration_iteration_finish", {}),
    "migration_bh_schedule": (f"{_MM}:migration_bh_schedule", {"7.2": f"{_MM}:migrate_fd_cleanup_schedule"}),
    "migration_bh_dispatch_bh": (f"{_MM}:migration_bh_dispatch_bh", {"7.2": f"{_MM}:migrate_fd_cleanup_bh"}),
    "cleanup": (f"{_MM}:migration_cleanup", {"7.2": f"{_MM}:migrate_fd_cleanup",
                                             "9.1": f"{_MM}:migrate_fd_cleanup",
                                             "9.2": f"{_MM}:migrate_fd_cleanup"}),
    "cleanup_bh_name": ("migration_cleanup_bh", {"7.2": "migrate_fd_cleanup_bh",
                                                 "9.1": "migrate_fd_cleanup_bh",
                                                 "9.2": "migrate_fd_cleanup_bh"}),
    "qemu_savevm_state_cleanup": ("migration/savevm.c:qemu_savevm_state_cleanup", {}),
    "open_return_path_on_source": (f"{_MM}:open_return_path_on_source", {}),
    "source_return_path_thread": (f"{_MM}:source_return_path_thread", {}),
    "close_return_path_on_source": (f"{_MM}:close_return_path_on_source", {}),
    "migrate_set_error": (f"{_MM}:migrate_set_error", {}),
    "multifd_send_setup": ("migration/multifd.c:multifd_send_setup", {}),
    "multifd_send_thread": ("migration/multifd.c:multifd_send_thread", {}),
    "multifd_send_shutdown": ("migration/multifd.c:multifd_send_shutdown", {}),
    "migration_shutdown": (f"{_MM}:migration_shutdown", {}),
    "cancel": (f"{_MM}:migration_cancel", {"7.2": f"{_MM}:migrate_fd_cancel",
                                           "9.1": f"{_MM}:migrate_fd_cancel",
                                           "9.2": f"{_MM}:migrate_fd_cancel"}),
    "qemu_file_shutdown": ("migration/qemu-file.c:qemu_file_shutdown", {}),
    "qemu_put_buffer": ("migration/qemu-file.c:qemu_fflush", {}),
    "qemu_file_set_error": ("migration/qemu-file.c:qemu_file_set_error", {}),
    "object_unref": ("qom/object.c:object_unref", {}),
    "instance_init": (f"{_MM}:migration_instance_init", {}),
    "instance_finalize": (f"{_MM}:migration_instance_finalize", {}),
    "vm_shutdown": ("system/cpus.c:do_vm_stop", {"7.2": "softmmu/cpus.c:do_vm_stop"}),
    "pause_all_vcpus": ("system/cpus.c:pause_all_vcpus", {"7.2": "softmmu/cpus.c:pause_all_vcpus"}),
    "flatview_write_continue_step": ("system/physmem.c:flatview_write_continue_step",
                                     {"7.2": "softmmu/physmem.c:flatview_write_continue"}),
    "virtio_mem_is_busy": ("hw/virtio/virtio-mem.c:virtio_mem_is_busy", {}),
    "vhost_vdpa_net_data_start": ("net/vhost-vdpa.c:vhost_vdpa_net_data_start", {}),
    "vfio_vmstate_change": ("hw/vfio/migration.c:vfio_vmstate_change", {}),
    "vfio_set_migration_error": ("hw/vfio/common.c:vfio_set_migration_error",
                                 {"master": "hw/vfio/listener.c:vfio_listener_log_global_stop"}),
    "bdrv_drain_all": ("block/io.c:bdrv_drain_all", {}),
    "monitor_cleanup": ("monitor/monitor.c:monitor_cleanup", {}),
    "iothread_stop": ("iothread.c:iothread_stop", {}),
    "main_loop_wait": ("util/main-loop.c:main_loop_wait", {}),
    "handle_qmp_command": ("monitor/qmp.c:handle_qmp_command", {}),
    "qmp_migrate_pause": (f"{_MM}:qmp_migrate_pause", {}),
    "qmp_migrate_recover": (f"{_MM}:qmp_migrate_recover", {}),
    "do_qmp_dispatch_bh": ("qapi/qmp-dispatch.c:do_qmp_dispatch_bh", {}),
    "fill_source_migration_info": (f"{_MM}:fill_source_migration_info", {}),
    "qmp_set_vcpu_dirty_limit": ("system/dirtylimit.c:qmp_set_vcpu_dirty_limit",
                                 {"7.2": "softmmu/dirtylimit.c:qmp_set_vcpu_dirty_limit"}),
    "vcpu_dirty_rate_stat_collect": ("system/dirtylimit.c:vcpu_dirty_rate_stat_collect", {}),
    "migrate_dirty_limit": ("migration/options.c:migrate_dirty_limit", {}),
    "qmp_cancel_vcpu_dirty_limit": ("system/dirtylimit.c:qmp_cancel_vcpu_dirty_limit", {}),
    "vcpu_dirty_rate_stat_stop": ("system/dirtylimit.c:vcpu_dirty_rate_stat_stop", {}),
    "global_dirty_log_change": ("migration/dirtyrate.c:global_dirty_log_change", {}),
    "qmp_migrate_incoming": (f"{_MM}:qmp_migrate_incoming", {}),
    "process_incoming_migration_co": (f"{_MM}:process_incoming_migration_co", {}),
    "qom-list-properties": ("qom/qom-qmp-cmds.c:qmp_qom_list_properties", {}),
    "device-list-properties": ("qom/qom-qmp-cmds.c:qmp_device_list_properties", {}),
    "object_new": ("qom/object.c:object_new", {}),
    "object-add": ("qom/qom-qmp-cmds.c:qmp_object_add", {}),
    "device_add": ("system/qdev-monitor.c:qmp_device_add", {"7.2": "softmmu/qdev-monitor.c:qmp_device_add"}),
    "device-help": ("system/qdev-monitor.c:qdev_device_help",
                    {"7.2": "softmmu/qdev-monitor.c:qdev_device_help"}),
    "query_migrate_outside": (f"{_MM}:qmp_query_migrate", {}),
    "main_loop_should_exit": ("system/runstate.c:main_loop_should_exit",
                              {"7.2": "softmmu/runstate.c:main_loop_should_exit"}),
    "monitor_qmp_dispatcher_co": ("monitor/qmp.c:monitor_qmp_dispatcher_co", {}),
}


@cache  # asked at every call step of every run; the table never changes
def source(key: str, tag: str) -> str:
    """:param key: a step key (a key of :data:`SOURCES`), or an exported helper's name.
    :param tag: the design's tag.
    :return: ``file:function`` at that tag.
    :raise KeyError: when the key is unknown.
    """
    if key.startswith("migration_") and key not in SOURCES:
        return f"{_MM}:{key}"
    default, per_tag = SOURCES[key]
    return per_tag.get(tag, default)
