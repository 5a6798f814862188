// SPDX-License-Identifier: GPL-2.0
/* The built-in object of `btfhub smoke` (src/cli/smoke-object.ts holds it as bytes):
 * the smallest useful CO-RE program. It reads task_struct.pid and tgid, fields every
 * kernel has, through CO-RE field relocations, so a trim of any kernel keeps a few types
 * and every relocation resolves. No header: the types are declared here, so the object
 * does not depend on the kernel or the libbpf headers it is built on.
 *
 *   clang -g -O2 -target bpf -fdebug-prefix-map=$PWD=. -c smoke-object.bpf.c -o smoke-object.bpf.o
 */
typedef int pid_t;

struct task_struct {
	pid_t pid;
	pid_t tgid;
} __attribute__((preserve_access_index));

/* BPF helpers by number, as bpf_helper_defs.h declares them. */
static long (*bpf_probe_read_kernel)(void *dst, unsigned int size, const void *src) = (void *)113;
static unsigned long long (*bpf_get_current_task)(void) = (void *)35;

__attribute__((section("kprobe/do_nanosleep"), used))
int btfhub_smoke(void *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	pid_t pid = 0, tgid = 0;

	bpf_probe_read_kernel(&pid, sizeof(pid), &task->pid);
	bpf_probe_read_kernel(&tgid, sizeof(tgid), &task->tgid);
	return pid == tgid;
}

char LICENSE[] __attribute__((section("license"), used)) = "GPL";
