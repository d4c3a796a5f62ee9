//! Known answers for the ROS 2 mode's publisher GID, computed by rmw_zenoh's
//! own code rather than by a library we chose.
//!
//! rmw_zenoh_cpp (ros2/rmw_zenoh, `rmw_zenoh_cpp/src/detail/liveliness_utils.cpp`
//! at bfc065f, `Entity::Entity`) makes an entity's GID by hashing its
//! liveliness key expression with its vendored
//! `simplified_XXH3_128bits` (`simplified_xxhash3.cpp`) and copying `low64`
//! then `high64` into the 16 bytes in host (little-endian) order. The hex
//! strings below were printed by a ten-line C++ program compiled against
//! those two files (`g++ main.cpp simplified_xxhash3.cpp`, x86-64), for
//! inputs that take each of XXH3's length paths (0, 1-3, 129-240 and
//! over 240 bytes). If `gid_of` used another XXH3 variant, seed or byte
//! order, a ROS 2 node would see a GID in our attachments that matches no
//! liveliness token, and this test fails.

use axon_zenoh::ros2::gid_of;

fn hex(gid: &[u8]) -> String {
    gid.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn gid_equals_rmw_zenoh_simplified_xxh3() {
    let token = "@ros2_lv/0/aac3178e146ba6f1fc6e6a4085e77f21/0/10/MP/%/%/axon_gateway/%cmd_vel/\
                 geometry_msgs::msg::dds_::Twist_/\
                 RIHS01_9c45bf16fe0983d80e3cfe750d6835843d265a9a6c46bd2e609fcddde6fb8d2a/::,10:,:,:,,";
    let long = "x".repeat(300);
    let cases: [(&str, &str); 4] = [
        ("", "7f498d4624c30160d8984701d306aa99"),
        ("a", "1f4e961eb632c6e63468f15a70af6fa9"),
        (token, "ab3e0c84890807d1f0d980ef1f950054"),
        (&long, "5435c87d60b4d1a57abcd72aea375212"),
    ];
    for (input, expected) in cases {
        assert_eq!(
            hex(&gid_of(input)),
            expected,
            "GID of a {}-byte token",
            input.len()
        );
    }
}
