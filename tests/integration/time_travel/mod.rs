//! Time travel of running services through the clock preload library.

mod libfaketime;
mod python;
mod servers;
