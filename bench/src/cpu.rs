//! CPU time spent, from /proc: system-wide and of the RabbitMQ node, so a benchmark can say
//! where each message's time went, not only how many went through.

/// CPU seconds of the whole machine so far (all cores): (busy — user, system, irq — and
/// stolen by the hypervisor, which is time this VM wanted and did not get).
pub fn machine() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<f64> = stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal
    let busy = [0, 1, 2, 5, 6].iter().filter_map(|i| fields.get(*i)).sum::<f64>();
    (busy / ticks(), fields.get(7).copied().unwrap_or(0.0) / ticks())
}

/// CPU seconds of every process named `comm` (e.g. `beam.smp`).
pub fn processes(comm: &str) -> f64 {
    let mut total = 0.0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let path = entry.path();
        if std::fs::read_to_string(path.join("comm")).is_ok_and(|c| c.trim() == comm) {
            let stat = std::fs::read_to_string(path.join("stat")).unwrap_or_default();
            // Fields after the parenthesised command name; utime and stime are 14 and 15.
            let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
            let f: Vec<f64> = rest.split_whitespace().filter_map(|v| v.parse().ok()).collect();
            total += f.get(11).unwrap_or(&0.0) + f.get(12).unwrap_or(&0.0);
        }
    }
    total / ticks()
}

fn ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }) as f64
}

/// The processes a benchmark's CPU time is split by.
const PARTS: [&str; 3] = ["beam.smp", "skiff", "skiff-bench"];

/// CPU used between two points, per message, in microseconds.
pub struct Meter {
    machine: (f64, f64),
    parts: [f64; 3],
}

impl Meter {
    pub fn start() -> Self {
        Self { machine: machine(), parts: PARTS.map(processes) }
    }

    /// "total N us (RabbitMQ a, skiff b, load generator c)".
    pub fn per_message(&self, messages: usize) -> String {
        let n = messages.max(1) as f64 / 1e6;
        let now = PARTS.map(processes);
        let part = |i: usize| (now[i] - self.parts[i]) / n;
        let (busy, stolen) = machine();
        let busy = (busy - self.machine.0) / n;
        format!(
            "{busy:.0} us (RabbitMQ {:.0}, skiff {:.0}, load generator {:.0}, other {:.0}; {:.0} us stolen by the host)",
            part(0),
            part(1),
            part(2),
            busy - part(0) - part(1) - part(2),
            (stolen - self.machine.1) / n
        )
    }
}
