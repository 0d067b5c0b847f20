//! Technical-analysis algorithms, following the arithmetic of the `gota`
//! package InfluxDB 1.6 embeds step by step, so float results agree to the bit
//! where possible (including its incremental sums and zero-initialised rings).

/// How an exponential average starts before `period` samples have been seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum Warmup {
    /// Exponential from the first sample with a scaled alpha (InfluxDB's default).
    Exponential,
    /// A simple average until `period` samples, then exponential.
    Simple,
}

/// An exponential moving average.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Ema {
    period: usize,
    last: f64,
    count: usize,
    alpha: f64,
    warm: Warmup,
}

impl Ema {
    pub(crate) fn new(period: usize, warm: Warmup) -> Ema {
        Ema {
            period,
            last: 0.0,
            count: 0,
            alpha: 2.0 / (period as f64 + 1.0),
            warm,
        }
    }

    /// Samples needed before the output is trusted (the default hold period).
    pub(crate) fn warm_count(&self) -> usize {
        self.period.saturating_sub(1)
    }

    pub(crate) fn warmed(&self) -> bool {
        self.count == self.period
    }

    pub(crate) fn add(&mut self, v: f64) -> f64 {
        let avg = if self.count == 0 {
            v
        } else if !self.warmed() {
            match self.warm {
                Warmup::Simple => (self.last * self.count as f64 + v) / (self.count as f64 + 1.0),
                Warmup::Exponential => {
                    let alpha = 2.0 / (self.count as f64 + 2.0);
                    (v - self.last) * alpha + self.last
                }
            }
        } else {
            (v - self.last) * self.alpha + self.last
        };
        self.last = avg;
        if self.count < self.period {
            self.count += 1;
        }
        avg
    }
}

/// Double exponential moving average.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Dema {
    e1: Ema,
    e2: Ema,
}

impl Dema {
    pub(crate) fn new(period: usize, warm: Warmup) -> Dema {
        Dema {
            e1: Ema::new(period, warm),
            e2: Ema::new(period, warm),
        }
    }

    pub(crate) fn warm_count(&self) -> usize {
        if self.e1.warm == Warmup::Exponential {
            self.e1.warm_count()
        } else {
            self.e1.warm_count() + self.e2.warm_count()
        }
    }

    pub(crate) fn add(&mut self, v: f64) -> f64 {
        let a1 = self.e1.add(v);
        let a2 = if self.e1.warmed() || self.e1.warm == Warmup::Exponential {
            self.e2.add(a1)
        } else {
            a1
        };
        2.0 * a1 - a2
    }
}

/// Triple exponential moving average.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Tema {
    e1: Ema,
    e2: Ema,
    e3: Ema,
}

impl Tema {
    pub(crate) fn new(period: usize, warm: Warmup) -> Tema {
        Tema {
            e1: Ema::new(period, warm),
            e2: Ema::new(period, warm),
            e3: Ema::new(period, warm),
        }
    }

    pub(crate) fn warm_count(&self) -> usize {
        if self.e1.warm == Warmup::Exponential {
            self.e1.warm_count()
        } else {
            self.e1.warm_count() + self.e2.warm_count() + self.e3.warm_count()
        }
    }

    pub(crate) fn add(&mut self, v: f64) -> f64 {
        let a1 = self.e1.add(v);
        let a2 = if self.e1.warmed() || self.e1.warm == Warmup::Exponential {
            self.e2.add(a1)
        } else {
            a1
        };
        let a3 = if self.e2.warmed() || self.e2.warm == Warmup::Exponential {
            self.e3.add(a2)
        } else {
            a2
        };
        3.0 * a1 - 3.0 * a2 + a3
    }
}

/// Triple exponential derivative (TRIX): percent rate of change of a triple EMA.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Trix {
    e1: Ema,
    e2: Ema,
    e3: Ema,
    last: f64,
}

impl Trix {
    pub(crate) fn new(period: usize, warm: Warmup) -> Trix {
        Trix {
            e1: Ema::new(period, warm),
            e2: Ema::new(period, warm),
            e3: Ema::new(period, warm),
            last: 0.0,
        }
    }

    pub(crate) fn warm_count(&self) -> usize {
        if self.e1.warm == Warmup::Exponential {
            self.e1.warm_count() + 1
        } else {
            self.e1.warm_count() * 3 + 1
        }
    }

    pub(crate) fn add(&mut self, v: f64) -> f64 {
        let mut cur = self.e1.add(v);
        if self.e1.warmed() || self.e1.warm == Warmup::Exponential {
            cur = self.e2.add(cur);
            if self.e2.warmed() || self.e2.warm == Warmup::Exponential {
                cur = self.e3.add(cur);
            }
        }
        let rate = ((cur / self.last) - 1.0) * 100.0;
        self.last = cur;
        rate
    }
}

/// Smoothed up/down averages, shared by RSI and the smoothed CMO.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct UpDown {
    up: Ema,
    down: Ema,
    last_v: f64,
}

impl UpDown {
    pub(crate) fn new(period: usize, warm: Warmup) -> UpDown {
        let mut ema = Ema::new(period + 1, warm);
        ema.alpha = 1.0 / period as f64;
        UpDown {
            up: ema.clone(),
            down: ema,
            last_v: 0.0,
        }
    }

    pub(crate) fn warm_count(&self) -> usize {
        self.up.warm_count()
    }

    /// Adds a sample; returns the (up, down) averages.
    pub(crate) fn add(&mut self, v: f64) -> (f64, f64) {
        let (mut up, mut down) = (0.0, 0.0);
        if v > self.last_v {
            up = v - self.last_v;
        } else if v < self.last_v {
            down = self.last_v - v;
        }
        self.up.add(up);
        self.down.add(down);
        self.last_v = v;
        (self.up.last, self.down.last)
    }
}

/// Relative strength index.
pub(crate) fn rsi(up: f64, down: f64) -> f64 {
    100.0 - (100.0 / (1.0 + up / down))
}

/// The smoothed Chande momentum oscillator.
pub(crate) fn cmos(up: f64, down: f64) -> f64 {
    100.0 * ((up - down) / (up + down))
}

#[derive(Debug, Clone, Copy, Default, serde::Serialize, serde::Deserialize)]
struct PriceDiff {
    price: f64,
    diff: f64,
}

/// The unsmoothed Chande momentum oscillator over a ring of `period - 1` diffs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Cmo {
    points: Vec<PriceDiff>,
    sum_up: f64,
    sum_down: f64,
    count: usize,
    idx: usize,
}

impl Cmo {
    /// `period` must be at least 2 (InfluxDB crashes below).
    pub(crate) fn new(period: usize) -> Cmo {
        Cmo {
            points: vec![PriceDiff::default(); period.saturating_sub(1).max(1)],
            sum_up: 0.0,
            sum_down: 0.0,
            count: 0,
            idx: 0,
        }
    }

    pub(crate) fn warm_count(&self) -> usize {
        self.points.len()
    }

    pub(crate) fn add(&mut self, v: f64) -> f64 {
        let n = self.points.len();
        let mut oldest = self.idx + 1;
        if oldest == n {
            oldest = 0;
        }
        let mut diff = 0.0;
        if self.count != 0 {
            diff = v - self.points[self.idx].price;
            if diff > 0.0 {
                self.sum_up += diff;
            } else if diff < 0.0 {
                self.sum_down -= diff;
            }
        }
        let mut out = 0.0;
        if self.sum_up != 0.0 || self.sum_down != 0.0 {
            out = 100.0 * ((self.sum_up - self.sum_down) / (self.sum_up + self.sum_down));
        }
        let old = self.points[oldest];
        if old.diff > 0.0 {
            self.sum_up -= old.diff;
        } else if old.diff < 0.0 {
            self.sum_down += old.diff;
        }
        self.points[oldest] = PriceDiff { price: v, diff };
        self.idx = oldest;
        if self.count != n + 2 {
            self.count += 1;
        }
        out
    }
}

/// Kaufman's efficiency ratio over a ring of `period` prices.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Ker {
    points: Vec<PriceDiff>,
    noise: f64,
    count: usize,
    idx: usize,
}

impl Ker {
    pub(crate) fn new(period: usize) -> Ker {
        Ker {
            points: vec![PriceDiff::default(); period.max(1)],
            noise: 0.0,
            count: 0,
            idx: 0,
        }
    }

    pub(crate) fn warm_count(&self) -> usize {
        self.points.len()
    }

    fn warmed(&self) -> bool {
        self.count == self.points.len() + 1
    }

    pub(crate) fn add(&mut self, v: f64) -> f64 {
        let n = self.points.len();
        let mut oldest = self.idx + 1;
        if oldest >= n {
            oldest = 0;
        }
        let signal = (v - self.points[oldest].price).abs();
        let kp = PriceDiff {
            price: v,
            diff: (v - self.points[self.idx].price).abs(),
        };
        self.noise -= self.points[oldest].diff;
        self.noise += kp.diff;
        let noise = self.noise;
        self.idx = oldest;
        self.points[oldest] = kp;
        if !self.warmed() {
            self.count += 1;
        }
        if signal == 0.0 || noise == 0.0 {
            0.0
        } else {
            signal / noise
        }
    }
}

/// Kaufman's adaptive moving average.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Kama {
    ker: Ker,
    last: f64,
}

impl Kama {
    pub(crate) fn new(period: usize) -> Kama {
        Kama {
            ker: Ker::new(period),
            last: 0.0,
        }
    }

    pub(crate) fn warm_count(&self) -> usize {
        self.ker.warm_count()
    }

    pub(crate) fn add(&mut self, v: f64) -> f64 {
        if !self.ker.warmed() {
            self.last = self.ker.points[self.ker.idx].price;
        }
        let er = self.ker.add(v);
        let fast = 2.0 / (2.0 + 1.0);
        let slow = 2.0 / (30.0 + 1.0);
        let sc = (er * (fast - slow) + slow).powi(2);
        self.last += sc * (v - self.last);
        self.last
    }
}
