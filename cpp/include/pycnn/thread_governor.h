// The thread governor: one OpenMP thread per core while the cores are pycnn's, fewer (down to one)
// while other processes want them.
//
// libgomp's idle threads spin (GOMP_SPINCOUNT) before they sleep. On a machine to itself a long spin
// is what makes a small parallel region cheap: a sleeping thread took 60-270 us to wake on one of
// this project's VMs, and 4-12 ms on another (a halted virtual CPU is woken by its next timer tick),
// more than a batch-1 convolution takes. With another busy process on the cores the same spin is a
// disaster: a spinning worker holds a core the other process wants, gets descheduled, and every
// parallel region then waits for its time slice (a 50 us convolution took 16 ms a call on two
// threads next to one busy process). No spin setting serves both, so pycnn keeps libgomp's long
// default spin and watches instead: govern_threads(), called by the CPU ops' bindings before they
// run, measures every 50 ms how much CPU time other processes took on the CPUs this process may run
// on (Linux's /proc/stat for all of them, less this process's own CPU time), and holds the calling
// threads' teams at the cores the others leave free (at least one); two windows in a row that agree
// change the verdict. Where /proc/stat cannot be read (another OS, a sandbox), it times a small probe
// region on the whole team instead (each thread spins 20 us): a thread that starts it more than
// 500 us late was waiting for a core, and two late probes in a row hold the teams at one thread.
// (The probe is the fallback because it cannot tell a busy core from a slow wake-up: on the VM
// whose idle CPUs wake on a timer tick, a free machine's probes were late 4-12 ms.)
// pycnn.set_num_threads still sets the team; the governor only ever lowers it.
#pragma once

#include <cstdint>

namespace pycnn::cpu {

// Samples the cores when a sample is due and applies the verdict to the calling thread's team.
// Cheap between samples (a clock read); a no-op inside a parallel region or when disabled.
void govern_threads();

// pycnn.get_num_threads / set_num_threads for the calling thread: the team asked for, whether or
// not the governor holds it lower now.
int requested_threads();
void set_requested_threads(int n);

struct GovernorState {
  bool enabled;
  bool contended;       // the verdict: teams held below what was asked
  int cap;              // the most threads a team may have now (0: no cap)
  const char* signal;   // "cpu accounting" (/proc/stat) or "probe"
  int64_t samples;      // samples taken
  double other_cpus;    // accounting: CPUs' worth of time other processes took in the last window
  double last_late_us;  // probe: how late the last probe's latest thread started
};
GovernorState governor_state();
// On by default; PYCNN_THREAD_GOVERNOR=0 in the environment turns it off at load.
void set_governor_enabled(bool on);
// Test hook: force the probe (true) even where /proc/stat can be read.
void set_governor_probe_only(bool on);

}  // namespace pycnn::cpu
