// The thread governor (pycnn/thread_governor.h): a probe region every 20 ms decides whether the
// cores are pycnn's; the verdict holds each calling thread's OpenMP team at one thread or gives it
// back.
#include "pycnn/thread_governor.h"

#include <omp.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace pycnn::cpu {

namespace {

constexpr int64_t kProbeEveryNs = 20'000'000;            // while the teams are whole
constexpr int64_t kProbeEveryContendedNs = 200'000'000;  // while they are held at one thread
constexpr double kProbeWork = 20e-6;                     // seconds each thread spins in a probe
constexpr double kLate = 500e-6;  // a thread this late waited for a core (a wake-up takes < 300 us)
constexpr int kStreak = 2;        // probes in a row that change the verdict

bool enabled_from_environment() {
  const char* v = std::getenv("PYCNN_THREAD_GOVERNOR");
  return !(v && std::strcmp(v, "0") == 0);
}

std::atomic<bool> g_enabled{enabled_from_environment()};
std::atomic<bool> g_contended{false};
std::atomic<bool> g_probing{false};
std::atomic<int64_t> g_next_probe_ns{0};
std::atomic<int64_t> g_probes{0}, g_late_probes{0};
std::atomic<double> g_last_late_us{0.0};
std::atomic<int> g_streak{0};  // consecutive probes against the verdict

// The team the calling thread asked for (pycnn.set_num_threads) while the governor holds it at one;
// 0 when it does not.
thread_local int t_held = 0;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// How late the latest thread of a team of `team` started a probe region, or finished its work, in
// seconds past what the work takes.
double probe(int team) {
  const double t0 = omp_get_wtime();
  double late = 0.0;
#pragma omp parallel num_threads(team) reduction(max : late)
  {
    const double start = omp_get_wtime();
    while (omp_get_wtime() - start < kProbeWork) {
    }
    late = start - t0;
  }
  const double total = omp_get_wtime() - t0 - kProbeWork;
  return total > late ? total : late;
}

void sample(int team) {
  bool expected = false;
  if (!g_probing.compare_exchange_strong(expected, true)) return;  // another thread probes
  const double late = probe(team);
  g_last_late_us.store(late * 1e6);
  ++g_probes;
  const bool is_late = late > kLate;
  if (is_late) ++g_late_probes;
  const bool contended = g_contended.load();
  g_streak.store(is_late != contended ? g_streak.load() + 1 : 0);
  bool verdict = contended;
  if (g_streak.load() >= kStreak) {
    verdict = !contended;
    g_streak.store(0);
    g_contended.store(verdict);
  }
  g_next_probe_ns.store(now_ns() + (verdict ? kProbeEveryContendedNs : kProbeEveryNs));
  g_probing.store(false);
}

}  // namespace

void govern_threads() {
  if (omp_in_parallel()) return;
  const int current = omp_get_max_threads();
  if (t_held && current != 1) t_held = 0;  // the team was set again since the governor held it
  const int team = t_held ? t_held : current;
  if (!g_enabled.load() || team <= 1) {
    if (t_held) {
      omp_set_num_threads(t_held);
      t_held = 0;
    }
    return;
  }
  if (now_ns() >= g_next_probe_ns.load()) sample(team);
  const bool contended = g_contended.load();
  if (contended && !t_held) {
    t_held = current;
    omp_set_num_threads(1);
  } else if (!contended && t_held) {
    omp_set_num_threads(t_held);
    t_held = 0;
  }
}

int requested_threads() { return t_held ? t_held : omp_get_max_threads(); }

void set_requested_threads(int n) {
  t_held = 0;
  omp_set_num_threads(n);
  govern_threads();
}

GovernorState governor_state() {
  return {g_enabled.load(), g_contended.load(), g_probes.load(), g_late_probes.load(),
          g_last_late_us.load()};
}

void set_governor_enabled(bool on) {
  g_enabled.store(on);
  if (!on) {
    g_contended.store(false);
    g_streak.store(0);
  }
  govern_threads();
}

}  // namespace pycnn::cpu
