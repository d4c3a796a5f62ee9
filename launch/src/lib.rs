//! Launch files and supervision (being written).
