//! The wait estimate (EWT) of every request in a route's queue, from what the queue can see:
//! how many lines the route has, how long each busy line's call has lasted so far, and what
//! the route's finished calls and past requests taught.
//!
//! A busy line may end at any of the times the route's recent calls suggest: the recent
//! handle times longer than the call's age, less that age (so a call already long is not
//! expected to end at once, nor after a whole average call). A freed line takes the head of
//! the queue and, after a lag that depends on how regular calls are, frees again at the
//! rate of one per mean handle time (the renewal function's asymptote). The request at
//! position k is dialed when the expected number of freed lines reaches the lines it needs:
//! one for itself and one for each request ahead still waiting at its own turn (visitors
//! give up at the rate learned from past requests: those who left over the time all waited).
//!
//! Taking one expected end per busy line instead was tried first and came out 15–80 % too
//! long in the simulation: the first of 50 lines to free comes much sooner than the least of
//! their expected ends. One sorted sweep gives every position: O(p log p + n) for p points
//! (at most lines × samples) and n waiting requests.

use std::collections::VecDeque;
use std::time::Duration;

/// How many finished calls' handle times a route keeps (the most recent).
pub const HANDLE_SAMPLES: usize = 256;

/// With fewer finished calls than this, the policy's default handle time stands in.
pub const MIN_SAMPLES: usize = 10;

/// At most this many possible ends per busy line (quantiles of the longer handle times), so
/// an estimate of 50 lines sorts a few thousand points, not 50 × 256.
const LINE_POINTS: usize = 32;

/// How much each new outcome weighs against the past in the share of requests that leave
/// (an exponentially weighted share over roughly the last 200 requests).
const LEAVE_DECAY: f64 = 0.995;

/// What a route's estimator has learned.
#[derive(Debug, Clone)]
pub struct Learned {
    default_handle_ms: u64,
    /// Handle times (how long a call held a line, dial to end) in ms, oldest first.
    recent: VecDeque<u64>,
    /// The same, sorted, and `suffix[i]` = the sum of `sorted[i..]`.
    sorted: Vec<u64>,
    suffix: Vec<u64>,
    /// Decayed count of requests that left the queue undialed, and decayed total time (ms)
    /// that requests spent waiting, dialed or not: their ratio is the rate at which a
    /// waiting request gives up (exponential patience, censored by being dialed).
    left: f64,
    waited_ms: f64,
    /// Requests seen leaving the queue, either way.
    outcomes: u32,
}

impl Learned {
    /// Nothing learned yet: calls are expected to last `default_handle` (the policy's).
    pub fn new(default_handle: Duration) -> Self {
        Learned {
            default_handle_ms: millis(default_handle).max(1),
            recent: VecDeque::with_capacity(HANDLE_SAMPLES),
            sorted: Vec::with_capacity(HANDLE_SAMPLES),
            suffix: Vec::with_capacity(HANDLE_SAMPLES + 1),
            left: 0.0,
            waited_ms: 0.0,
            outcomes: 0,
        }
    }

    /// A call toward the center ended after holding its line for `handle`.
    pub fn call_ended(&mut self, handle: Duration) {
        let ms = millis(handle);
        if self.recent.len() == HANDLE_SAMPLES
            && let Some(oldest) = self.recent.pop_front()
            && let Ok(at) = self.sorted.binary_search(&oldest)
        {
            self.sorted.remove(at);
        }
        self.recent.push_back(ms);
        let at = self.sorted.partition_point(|&h| h < ms);
        self.sorted.insert(at, ms);
        self.suffix.clear();
        self.suffix.resize(self.sorted.len() + 1, 0);
        for i in (0..self.sorted.len()).rev() {
            self.suffix[i] = self.suffix[i + 1] + self.sorted[i];
        }
    }

    /// A request left the queue after waiting `waited`: dialed, or gone undialed
    /// (cancelled, gave up).
    pub fn request_left_queue(&mut self, dialed: bool, waited: Duration) {
        self.left *= LEAVE_DECAY;
        self.waited_ms *= LEAVE_DECAY;
        self.outcomes = self.outcomes.saturating_add(1);
        self.waited_ms += millis(waited) as f64;
        if !dialed {
            self.left += 1.0;
        }
    }

    /// The mean handle time: of the recent calls, or the default before there are enough.
    pub fn mean_handle(&self) -> Duration {
        Duration::from_millis(self.mean_handle_ms())
    }

    fn mean_handle_ms(&self) -> u64 {
        match self.sorted.len() {
            n if n >= MIN_SAMPLES => self.suffix[0] / n as u64,
            _ => self.default_handle_ms,
        }
    }

    /// The expected remaining time of a call that has lasted `age_ms`.
    fn remaining_ms(&self, age_ms: u64) -> u64 {
        let mean = self.mean_handle_ms();
        let floor = mean / 20;
        if self.sorted.len() >= MIN_SAMPLES {
            let from = self.sorted.partition_point(|&h| h <= age_ms);
            let longer = self.sorted.len() - from;
            // A few longer calls are enough to say how much longer such calls run.
            if longer >= 3 {
                return (self.suffix[from] / longer as u64 - age_ms).max(floor);
            }
        }
        mean.saturating_sub(age_ms).max(floor)
    }

    /// The rate (per ms) at which a waiting request gives up; 0 until 20 requests were seen.
    pub fn give_up_rate(&self) -> f64 {
        if self.outcomes < 20 || self.waited_ms <= 0.0 {
            return 0.0;
        }
        self.left / self.waited_ms
    }

    /// How long after a line frees and is taken again it starts to free once more, on
    /// average, beyond the mean handle time's steady rate: a renewal process with handle
    /// times of mean H and coefficient of variation c counts about t/H + (c² − 1)/2 ends by
    /// t, the same as a steady rate starting H (1 − c²)/2 late. Calls more regular than
    /// random (c < 1) make a line just taken unlikely to free soon; none earlier than at once.
    fn renewal_lag_ms(&self) -> f64 {
        let n = self.sorted.len();
        if n < MIN_SAMPLES {
            return 0.0;
        }
        let mean = self.suffix[0] as f64 / n as f64;
        let var = self
            .sorted
            .iter()
            .map(|&h| (h as f64 - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        let cv2 = var / (mean * mean);
        (mean * (1.0 - cv2) / 2.0).clamp(0.0, mean / 2.0)
    }
}

/// What the queue of one route looks like now.
#[derive(Debug, Clone, Copy)]
pub struct QueueState<'a> {
    /// The route's lines (its maximum of simultaneous calls toward the center).
    pub lines: usize,
    /// How long each call holding a line has lasted so far.
    pub busy_for: &'a [Duration],
    /// How many requests wait, position 0 first.
    pub waiting: usize,
}

/// The estimated wait of each waiting request, position 0 first; `None` when the route has
/// no line at all (nothing frees, so no estimate can be honest).
pub fn estimate_waits(queue: QueueState<'_>, learned: &Learned) -> Option<Vec<Duration>> {
    if queue.lines == 0 {
        return None;
    }
    // Lines over the route's maximum (it was lowered) free without taking a request: the
    // first departures are theirs.
    let excess = queue.busy_for.len().saturating_sub(queue.lines) as f64;
    let give_up = learned.give_up_rate();
    let curve = Departures::new(queue, learned);
    let mut sweep = curve.sweep();
    let mut waits = Vec::with_capacity(queue.waiting);
    // Lines that must free before position k is dialed: one for each request ahead that is
    // still there when its own turn comes (it gives up before then with probability
    // 1 − e^(−rate × its wait)), one for k itself, and the excess.
    let mut needed = 1.0 + excess;
    // The curve counts expected ends; the y-th of c lines to end does so, on average, when
    // each line's chance of having ended is y/(c + 1), not y/c (for lines ending
    // independently, F(the y-th end) is Beta(y, c + 1 − y)). So the first round of ends is
    // read y/(c + 1) lines early, and everything after it by the c/(c + 1) of the whole
    // round. Without this, 5 lines came out 10 % long in the simulation (50 lines: 2 %).
    // Only when every line is busy and its ends are spread over learned handle times: a free
    // line ends at 0 and a default handle time is one point, neither of which is spread.
    let spread = learned.sorted.len() >= MIN_SAMPLES && queue.busy_for.len() >= queue.lines;
    let c = queue.busy_for.len() as f64;
    let early = |needed: f64| {
        if spread {
            needed.min(c) / (c + 1.0)
        } else {
            0.0
        }
    };
    for _ in 0..queue.waiting {
        let at = sweep.reach(needed - early(needed));
        waits.push(Duration::from_millis(at));
        needed += (-give_up * at as f64).exp();
    }
    Some(waits)
}

/// The expected number of lines freed by time t (ms from now), as points where a busy line
/// may end: each busy line's possible remaining times (the recent handle times longer than
/// its age, less the age; each of its n points weighs 1/n), and a point at 0 of weight 1 per
/// free line. A line freed at r is taken again and frees once more per mean handle time H,
/// so E[freed by t] = Σ over points r ≤ t of w (1 + (t − r) / H): piecewise linear in t, a
/// jump at every point. Lines over a lowered maximum are not taken again: the ones expected
/// to end first are taken for them, and their points have no slope. The request that needs y departures is dialed about when this
/// reaches y (exact for Poisson departures; a busy line's own shape near its end comes from
/// the samples).
struct Departures {
    /// (ms from now, jump, slope): a jump of `jump` lines freed at that time, and from then
    /// on `slope` more per mean handle time. Sorted by time.
    points: Vec<(u64, f64, f64)>,
    handle_ms: f64,
}

impl Departures {
    fn new(queue: QueueState<'_>, learned: &Learned) -> Self {
        let mut busy: Vec<(u64, u64)> = queue
            .busy_for
            .iter()
            .map(|age| {
                let age = millis(*age);
                (learned.remaining_ms(age), age)
            })
            .collect();
        busy.sort_unstable();
        let excess = busy.len().saturating_sub(queue.lines);
        let lag = learned.renewal_lag_ms().round() as u64;
        let mut points = Vec::new();
        let mut add = |at: u64, w: f64, renews: bool| {
            points.push((at, w, 0.0));
            if renews {
                points.push((at + lag, 0.0, w));
            }
        };
        for (i, &(remaining, age)) in busy.iter().enumerate() {
            let renews = i >= excess;
            let from = learned.sorted.partition_point(|&h| h <= age);
            let longer = &learned.sorted[from..];
            if learned.sorted.len() >= MIN_SAMPLES && longer.len() >= 3 {
                // At most LINE_POINTS of them, evenly spaced in rank (quantiles).
                let n = longer.len().min(LINE_POINTS);
                let w = 1.0 / n as f64;
                for q in 0..n {
                    let h = longer[(q * longer.len() + longer.len() / 2) / n];
                    add(h - age, w, renews);
                }
            } else {
                add(remaining, 1.0, renews);
            }
        }
        for _ in busy.len()..queue.lines {
            add(0, 1.0, true);
        }
        points.sort_by_key(|p| p.0);
        Departures {
            points,
            handle_ms: learned.mean_handle_ms().max(1) as f64,
        }
    }

    fn sweep(&self) -> Sweep<'_> {
        Sweep {
            curve: self,
            next: 0,
            weight: 0.0,
            renewing: 0.0,
            renewing_at: 0.0,
        }
    }
}

/// Walks a [`Departures`] curve forwards, for targets that only grow.
struct Sweep<'a> {
    curve: &'a Departures,
    /// Points taken in so far.
    next: usize,
    /// Σ jump of the points taken in, Σ slope and Σ slope × time.
    weight: f64,
    renewing: f64,
    renewing_at: f64,
}

impl Sweep<'_> {
    fn freed_by(&self, t: f64) -> f64 {
        self.weight + (t * self.renewing - self.renewing_at) / self.curve.handle_ms
    }

    /// When the line since the last point taken in reaches `target`, if it rises at all.
    fn on_slope(&self, target: f64) -> Option<u64> {
        (self.renewing > 0.0).then(|| {
            let t =
                (self.curve.handle_ms * (target - self.weight) + self.renewing_at) / self.renewing;
            t.max(0.0).round() as u64
        })
    }

    /// The earliest time (ms) at which `target` lines are expected to have freed.
    fn reach(&mut self, target: f64) -> u64 {
        loop {
            let Some(&(at, jump, slope)) = self.curve.points.get(self.next) else {
                // Past the last point: the curve rises at a constant slope for ever.
                return self.on_slope(target).unwrap_or(u64::MAX);
            };
            // Reached before the next point, on the slope since the last one?
            if self.freed_by(at as f64) >= target
                && let Some(t) = self.on_slope(target)
            {
                return t.min(at);
            }
            self.next += 1;
            self.weight += jump;
            self.renewing += slope;
            self.renewing_at += slope * at as f64;
            // Reached by the jump at this point?
            if self.freed_by(at as f64) >= target - 1e-9 {
                return at;
            }
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    fn learned_from(handles: &[u64]) -> Learned {
        let mut l = Learned::new(S(240));
        for &h in handles {
            l.call_ended(S(h));
        }
        l
    }

    #[test]
    fn before_anything_is_learned_the_default_handle_time_stands_in() {
        let l = Learned::new(S(240));
        assert_eq!(l.mean_handle(), S(240));
        // Two lines, both just taken, four waiting: lines free at 240 s, then 480 s.
        let q = QueueState {
            lines: 2,
            busy_for: &[S(0), S(0)],
            waiting: 4,
        };
        // Both may end at 240 s; after that two lines free one every 120 s on average.
        assert_eq!(
            estimate_waits(q, &l),
            Some(vec![S(240), S(240), S(360), S(480)])
        );
    }

    #[test]
    fn a_free_line_means_no_wait_and_no_line_means_no_estimate() {
        let l = Learned::new(S(180));
        let free = QueueState {
            lines: 3,
            busy_for: &[S(10)],
            waiting: 2,
        };
        assert_eq!(estimate_waits(free, &l), Some(vec![S(0), S(0)]));
        let closed = QueueState {
            lines: 0,
            busy_for: &[],
            waiting: 2,
        };
        assert_eq!(estimate_waits(closed, &l), None);
    }

    #[test]
    fn a_long_call_is_expected_to_run_as_long_calls_did() {
        // Ten calls of 100 s and ten of 300 s: mean 200 s. A call at 150 s is one of the
        // long ones: 150 s remain, not 50 s.
        let handles: Vec<u64> = [100; 10].into_iter().chain([300; 10]).collect();
        let l = learned_from(&handles);
        assert_eq!(l.mean_handle(), S(200));
        assert_eq!(l.remaining_ms(150_000), 150_000);
        assert_eq!(l.remaining_ms(50_000), 150_000);
        // Older than every sample: a twentieth of the mean, not zero.
        assert_eq!(l.remaining_ms(400_000), 10_000);
    }

    #[test]
    fn only_the_most_recent_handle_times_count() {
        let mut l = learned_from(&[600; HANDLE_SAMPLES]);
        for _ in 0..HANDLE_SAMPLES {
            l.call_ended(S(60));
        }
        assert_eq!(l.mean_handle(), S(60));
        assert_eq!(l.sorted.len(), HANDLE_SAMPLES);
    }

    #[test]
    fn requests_that_give_up_move_the_queue_up() {
        let one_line = QueueState {
            lines: 1,
            busy_for: &[S(0)],
            waiting: 3,
        };
        let secs = |l: &Learned| -> Vec<f64> {
            estimate_waits(one_line, l)
                .unwrap_or_default()
                .iter()
                .map(Duration::as_secs_f64)
                .collect()
        };
        // Nothing learned: calls of 100 s, nobody gives up: 100, 200, 300 s.
        let mut l = Learned::new(S(100));
        assert_eq!(secs(&l), [100.0, 200.0, 300.0]);
        // 100 requests waited 100 s each and every other one gave up: 50 gave up over
        // 10,000 s of waiting, a rate of 0.005/s. Position 1 needs 1 + e^(-0.005×100) lines,
        // position 2 that plus e^(-0.005 × position 1's wait).
        for i in 0..100 {
            l.request_left_queue(i % 2 == 0, S(100));
        }
        assert!((l.give_up_rate() * 1000.0 - 0.005).abs() < 0.0002);
        let got = secs(&l);
        let p1 = 100.0 + 100.0 * (-0.5f64).exp();
        let p2 = p1 + 100.0 * (-0.005 * p1).exp();
        for (got, want) in got.iter().zip([100.0, p1, p2]) {
            assert!((got - want).abs() < 2.0, "{got:?} vs {want}");
        }
    }

    #[test]
    fn regular_calls_make_a_line_just_taken_free_later() {
        // Handle times 120 s ± 60 (CV ≈ 0.35): a renewal lags H (1 − c²) / 2 ≈ 53 s.
        let handles: Vec<u64> = (0..50).map(|i| 60 + (i % 5) * 30).collect();
        let l = learned_from(&handles);
        assert_eq!(l.mean_handle(), S(120));
        let lag = l.renewal_lag_ms() / 1000.0;
        assert!((lag - 52.5).abs() < 0.1, "{lag}");
        // Random calls (exponential-like, CV ≥ 1) lag nothing.
        let spread: Vec<u64> = (0..50)
            .map(|i| if i % 10 == 0 { 1000 } else { 20 })
            .collect();
        assert_eq!(learned_from(&spread).renewal_lag_ms(), 0.0);
    }

    #[test]
    fn waits_never_go_down_along_the_queue() {
        let handles: Vec<u64> = (0..200).map(|i| 30 + (i * 37) % 300).collect();
        let l = learned_from(&handles);
        let ages: Vec<Duration> = (0..20).map(|i| S(i * 17)).collect();
        let q = QueueState {
            lines: 20,
            busy_for: &ages,
            waiting: 500,
        };
        let waits = estimate_waits(q, &l).unwrap_or_default();
        assert_eq!(waits.len(), 500);
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
        // 500 ahead over 20 lines of ~180 s: about 75 minutes for the last.
        let last = waits[499].as_secs();
        assert!((4000..5000).contains(&last), "{last}");
    }

    #[test]
    fn lines_over_a_lowered_maximum_free_without_taking_a_request() {
        let l = Learned::new(S(100));
        // Maximum lowered to 1 while 3 calls run (ages 90, 50, 10 s: 10, 50, 90 s left): the
        // first two to end free nothing, the third frees the one line.
        let q = QueueState {
            lines: 1,
            busy_for: &[S(90), S(50), S(10)],
            waiting: 2,
        };
        assert_eq!(estimate_waits(q, &l), Some(vec![S(90), S(190)]));
    }
}
