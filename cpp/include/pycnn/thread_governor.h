// The thread governor: one OpenMP thread per core while the cores are pycnn's, one thread while
// another process wants them.
//
// libgomp's idle threads spin (GOMP_SPINCOUNT) before they sleep. On a machine to itself a long spin
// is what makes a small parallel region cheap: a sleeping thread took 60-270 us to wake on this
// project's VM, more than a batch-1 convolution takes. With another busy process on the cores the
// same spin is a disaster: a spinning worker holds a core the other process wants, gets descheduled,
// and every parallel region then waits for its time slice (a 50 us convolution took 16 ms a call on
// two threads next to one busy process). No spin setting serves both, so pycnn keeps libgomp's long
// default spin and watches instead: govern_threads(), called by the CPU ops' bindings before they
// run, times a small probe region on the whole team every 20 ms (each thread spins 20 us); a thread
// that starts it more than 500 us late was waiting for a core. Two late probes in a row hold the
// calling threads' teams at one thread (probed every 200 ms from then on); two prompt ones give the
// teams back. pycnn.set_num_threads still sets the team; the governor only ever lowers it to one.
#pragma once

#include <cstdint>

namespace pycnn::cpu {

// Samples the cores when a probe is due and applies the verdict to the calling thread's team. Cheap
// between probes (a clock read); a no-op inside a parallel region or when disabled.
void govern_threads();

// pycnn.get_num_threads / set_num_threads for the calling thread: the team asked for, whether or
// not the governor holds it at one thread now.
int requested_threads();
void set_requested_threads(int n);

struct GovernorState {
  bool enabled;
  bool contended;       // the verdict: teams held at one thread
  int64_t probes;       // probes run
  int64_t late_probes;  // probes a thread started late
  double last_late_us;  // how late the last probe's latest thread started
};
GovernorState governor_state();
// On by default; PYCNN_THREAD_GOVERNOR=0 in the environment turns it off at load.
void set_governor_enabled(bool on);

}  // namespace pycnn::cpu
