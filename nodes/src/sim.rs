//! The simulated world: a rectangular room with one round obstacle moving
//! back and forth across it, and a cheap deterministic noise source.

/// A rectangular room centred on the origin, with a moving round obstacle.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Room {
    /// Half the room's length along x, metres.
    pub half_x: f64,
    /// Half the room's width along y, metres.
    pub half_y: f64,
    /// Obstacle radius, metres.
    pub obstacle_radius: f64,
    /// The obstacle moves along x at this y, metres.
    pub obstacle_y: f64,
    /// Period of the obstacle's back-and-forth motion, seconds.
    pub obstacle_period: f64,
}

impl Default for Room {
    fn default() -> Self {
        Room {
            half_x: 5.0,
            half_y: 3.0,
            obstacle_radius: 0.3,
            obstacle_y: 1.2,
            obstacle_period: 8.0,
        }
    }
}

impl Room {
    /// The obstacle's centre at time `t` seconds: it sweeps x over
    /// `±(half_x - 1)` sinusoidally.
    pub fn obstacle_at(&self, t: f64) -> (f64, f64) {
        let amplitude = (self.half_x - 1.0).max(0.0);
        let phase = std::f64::consts::TAU * t / self.obstacle_period;
        (amplitude * phase.sin(), self.obstacle_y)
    }

    /// Distance from `(x, y)` along direction `angle` (radians) to the first
    /// wall or the obstacle (centred at `obstacle`).
    pub fn raycast(&self, (x, y): (f64, f64), angle: f64, obstacle: (f64, f64)) -> f64 {
        let (dy, dx) = angle.sin_cos();
        // Walls: the nearest positive crossing of x = ±half_x and y = ±half_y.
        let mut best = f64::INFINITY;
        if dx.abs() > 1e-12 {
            let wall = self.half_x.copysign(dx);
            best = best.min((wall - x) / dx);
        }
        if dy.abs() > 1e-12 {
            let wall = self.half_y.copysign(dy);
            best = best.min((wall - y) / dy);
        }
        // Obstacle: |p + t d - c|^2 = r^2 with |d| = 1.
        let (ox, oy) = (x - obstacle.0, y - obstacle.1);
        let b = ox * dx + oy * dy;
        let c = ox * ox + oy * oy - self.obstacle_radius * self.obstacle_radius;
        let disc = b * b - c;
        if disc >= 0.0 {
            let t = -b - disc.sqrt();
            if t > 0.0 {
                best = best.min(t);
            }
        }
        best
    }
}

/// xorshift64*: deterministic, allocation-free noise (not for cryptography).
#[derive(Debug, Clone)]
pub struct Noise(u64);

impl Noise {
    /// A generator from `seed` (0 is replaced by a fixed non-zero value).
    pub fn new(seed: u64) -> Noise {
        Noise(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// Uniform in `[-1, 1)`.
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        bits as f64 / (1u64 << 52) as f64 - 1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raycast_hits_walls_and_obstacle() {
        let room = Room::default();
        let far = (100.0, 100.0);
        assert!((room.raycast((0.0, 0.0), 0.0, far) - 5.0).abs() < 1e-9);
        let up = std::f64::consts::FRAC_PI_2;
        assert!((room.raycast((0.0, 0.0), up, far) - 3.0).abs() < 1e-9);
        // Obstacle straight above at y = 1.2, radius 0.3: hit at 0.9.
        assert!((room.raycast((0.0, 0.0), up, (0.0, 1.2)) - 0.9).abs() < 1e-9);
    }

    #[test]
    fn noise_is_in_range() {
        let mut n = Noise::new(1);
        for _ in 0..10_000 {
            let v = n.uniform();
            assert!((-1.0..1.0).contains(&v));
        }
    }
}
