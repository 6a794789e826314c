// The thread governor (pycnn/thread_governor.h): every 50 ms, the CPU time other processes took on
// this process's CPUs (or, where that cannot be read, a timed probe region) decides how many of the
// cores are pycnn's; the verdict caps each calling thread's OpenMP team or gives it back.
#include "pycnn/thread_governor.h"

#include <omp.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#ifdef __linux__
#include <sched.h>
#include <unistd.h>
#endif

namespace pycnn::cpu {

namespace {

constexpr int64_t kWindowNs = 50'000'000;                // accounting: the shortest window
constexpr int64_t kProbeEveryNs = 20'000'000;            // probe: while the teams are whole
constexpr int64_t kProbeEveryContendedNs = 200'000'000;  // probe: while they are held
constexpr double kProbeWork = 20e-6;                     // seconds each thread spins in a probe
constexpr double kLate = 500e-6;                         // a thread this late waited for a core
constexpr int kStreak = 2;                               // samples in a row that change the verdict

bool enabled_from_environment() {
  const char* v = std::getenv("PYCNN_THREAD_GOVERNOR");
  return !(v && std::strcmp(v, "0") == 0);
}

std::atomic<bool> g_enabled{enabled_from_environment()};
std::atomic<bool> g_probe_only{false};
std::atomic<bool> g_sampling{false};  // one thread samples at a time; it owns the s_ state below
std::atomic<bool> g_restart{true};    // the next sample starts a new accounting window
std::atomic<int> g_cap{0};            // the most threads a team may have; 0: no cap
std::atomic<int64_t> g_next_ns{0};
std::atomic<int64_t> g_samples{0};
std::atomic<double> g_other_cpus{0.0}, g_last_late_us{0.0};
std::atomic<const char*> g_signal{"cpu accounting"};

// Owned by the thread that holds g_sampling.
int s_pending = 0;  // the cap the last samples proposed
int s_streak = 0;   // how many samples in a row proposed it
struct Account {
  double busy_s;    // CPU time all processes spent on this process's CPUs
  double self_s;    // this process's CPU time
  int64_t wall_ns;  // when
  int cpus;         // how many CPUs this process may run on
};
Account s_last{};

// The team the calling thread asked for (pycnn.set_num_threads) while the governor holds it lower,
// and the count the governor set then; both 0 when it does not hold it.
thread_local int t_requested = 0;
thread_local int t_applied = 0;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// The CPU time (user, nice, system, irq, softirq) of every CPU this process may run on, from Linux's
// /proc/stat, and this process's own; false where either cannot be read.
bool read_account(Account* a) {
#ifdef __linux__
  cpu_set_t allowed;
  if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return false;
  FILE* f = std::fopen("/proc/stat", "re");
  if (!f) return false;
  long long ticks = 0;
  int cpus = 0;
  char line[512];
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "cpu", 3) != 0) break;  // the per-CPU lines come first
    char* p = line + 3;
    char* end = nullptr;
    const long id = std::strtol(p, &end, 10);
    if (end == p || id < 0 || id >= CPU_SETSIZE || !CPU_ISSET(id, &allowed))
      continue;  // "cpu " sums
    long long v[7] = {};
    for (long long& x : v) {
      p = end;
      x = std::strtoll(p, &end, 10);
      if (end == p) break;
    }
    ticks += v[0] + v[1] + v[2] + v[5] + v[6];  // user nice system [idle iowait] irq softirq
    ++cpus;
  }
  std::fclose(f);
  timespec self{};
  const long hz = sysconf(_SC_CLK_TCK);
  if (cpus == 0 || hz <= 0 || clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &self) != 0) return false;
  a->busy_s = static_cast<double>(ticks) / static_cast<double>(hz);
  a->self_s = static_cast<double>(self.tv_sec) + 1e-9 * static_cast<double>(self.tv_nsec);
  a->wall_ns = now_ns();
  a->cpus = cpus;
  return true;
#else
  (void)a;
  return false;
#endif
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

// A cap for the teams from the CPU time other processes took since the last window (the cores they
// leave, rounded, at least one; 0 when they leave all), or -1 while a window is still open or the
// accounting cannot be read.
int propose_from_accounting(bool restart, bool* readable) {
  Account now{};
  *readable = !g_probe_only.load() && read_account(&now);
  if (!*readable) return -1;
  const Account last = s_last;
  s_last = now;
  if (restart || now.cpus != last.cpus || now.wall_ns - last.wall_ns < kWindowNs / 2) return -1;
  const double wall = 1e-9 * static_cast<double>(now.wall_ns - last.wall_ns);
  double other = ((now.busy_s - last.busy_s) - (now.self_s - last.self_s)) / wall;
  if (other < 0.0) other = 0.0;  // the two clocks tick differently: /proc/stat counts whole ticks
  g_other_cpus.store(other);
  const double left = static_cast<double>(now.cpus) - other;
  const int cores = left < 1.5 ? 1 : static_cast<int>(std::floor(left + 0.5));
  return cores >= now.cpus ? 0 : cores;
}

void sample(int team) {
  bool expected = false;
  if (!g_sampling.compare_exchange_strong(expected, true)) return;  // another thread samples
  const bool restart = g_restart.exchange(false);
  if (restart) s_streak = 0;
  bool readable = false;
  int proposal = propose_from_accounting(restart, &readable);
  g_signal.store(readable ? "cpu accounting" : "probe");
  if (!readable) {
    const double late = probe(team);
    g_last_late_us.store(late * 1e6);
    proposal = late > kLate ? 1 : 0;
  }
  if (proposal >= 0) {
    ++g_samples;
    const int cap = g_cap.load();
    if (proposal == cap) {
      s_streak = 0;
    } else {
      s_streak = proposal == s_pending ? s_streak + 1 : 1;
      s_pending = proposal;
      if (s_streak >= kStreak) {
        g_cap.store(proposal);
        s_streak = 0;
      }
    }
  }
  const int64_t every = readable       ? kWindowNs
                        : g_cap.load() ? kProbeEveryContendedNs
                                       : kProbeEveryNs;
  g_next_ns.store(now_ns() + every);
  g_sampling.store(false);
}

// Gives the calling thread the team it asked for, when the governor holds it lower.
void release_team() {
  if (t_requested) omp_set_num_threads(t_requested);
  t_requested = t_applied = 0;
}

}  // namespace

void govern_threads() {
  if (omp_in_parallel()) return;
  const int current = omp_get_max_threads();
  if (t_requested && current != t_applied) t_requested = t_applied = 0;  // set again since
  const int requested = t_requested ? t_requested : current;
  if (!g_enabled.load() || requested <= 1) {
    release_team();
    return;
  }
  if (now_ns() >= g_next_ns.load()) sample(requested);
  const int cap = g_cap.load();
  if (cap > 0 && cap < requested) {
    if (current != cap) omp_set_num_threads(cap);
    t_requested = requested;
    t_applied = cap;
  } else {
    release_team();
  }
}

int requested_threads() {
  const int current = omp_get_max_threads();
  return t_requested && current == t_applied ? t_requested : current;
}

void set_requested_threads(int n) {
  t_requested = t_applied = 0;
  omp_set_num_threads(n);
  govern_threads();
}

GovernorState governor_state() {
  const int cap = g_cap.load();
  return {g_enabled.load(),     cap > 0,          cap,
          g_signal.load(),      g_samples.load(), g_other_cpus.load(),
          g_last_late_us.load()};
}

void set_governor_enabled(bool on) {
  g_enabled.store(on);
  if (!on) {
    g_cap.store(0);
    g_restart.store(true);
  }
  govern_threads();
}

void set_governor_probe_only(bool on) {
  g_probe_only.store(on);
  g_cap.store(0);
  g_restart.store(true);
  g_next_ns.store(0);
}

}  // namespace pycnn::cpu
