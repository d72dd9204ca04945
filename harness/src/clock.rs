//! The harness's sense of time. On Azure, real time; on the mock, sleeping advances the mock's
//! virtual clock, so waits and soaks cost no wall time and the same seed gives the same evidence.

use crate::error::HarnessError;
use crate::mock_admin::MockAdmin;
use async_trait::async_trait;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

/// A clock the runner waits on.
#[async_trait]
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The target's current time, as last known.
    fn now(&self) -> OffsetDateTime;
    /// Waits for `d` of the target's time.
    async fn sleep(&self, d: Duration) -> Result<(), HarnessError>;

    /// Whether waiting is free (the mock's virtual clock): then a wait is one step, never cut.
    fn is_virtual(&self) -> bool {
        false
    }
}

/// Wall-clock time.
#[derive(Debug, Default)]
pub struct RealClock;

#[async_trait]
impl Clock for RealClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    async fn sleep(&self, d: Duration) -> Result<(), HarnessError> {
        tokio::time::sleep(d).await;
        Ok(())
    }
}

/// A mock running `--clock scaled=N`: its time runs N times faster than the wall clock, so
/// waits take 1/N of their length.
#[derive(Debug)]
pub struct ScaledClock {
    factor: f64,
    origin: std::time::Instant,
    origin_time: OffsetDateTime,
}

impl ScaledClock {
    /// A clock reading the mock's time now and running `factor` times faster than the wall.
    pub async fn new(admin: &MockAdmin, factor: f64) -> Result<Self, HarnessError> {
        Ok(Self { factor, origin: std::time::Instant::now(), origin_time: admin.clock_now().await? })
    }
}

#[async_trait]
impl Clock for ScaledClock {
    fn now(&self) -> OffsetDateTime {
        self.origin_time + self.origin.elapsed().mul_f64(self.factor)
    }

    async fn sleep(&self, d: Duration) -> Result<(), HarnessError> {
        tokio::time::sleep(d.div_f64(self.factor)).await;
        Ok(())
    }
}

/// The mock's virtual clock: `sleep` advances it through the admin API.
#[derive(Debug)]
pub struct MockClock {
    admin: MockAdmin,
    now: Mutex<OffsetDateTime>,
}

impl MockClock {
    /// A clock on a mock that runs `--clock virtual`; reads its current time.
    pub async fn new(admin: MockAdmin) -> Result<Self, HarnessError> {
        let now = admin.clock_now().await?;
        Ok(Self { admin, now: Mutex::new(now) })
    }
}

#[async_trait]
impl Clock for MockClock {
    fn now(&self) -> OffsetDateTime {
        *self.now.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn is_virtual(&self) -> bool {
        true
    }

    async fn sleep(&self, d: Duration) -> Result<(), HarnessError> {
        let now = self.admin.advance(d).await?;
        *self.now.lock().unwrap_or_else(|p| p.into_inner()) = now;
        Ok(())
    }
}
