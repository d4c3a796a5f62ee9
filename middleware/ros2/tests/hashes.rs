//! The RIHS01 hashes of the standard types equal the values ROS 2 (rosidl,
//! Jazzy) publishes for them; the schema text is the ROS definitions.

use axon_msgs as m;
use axon_ros2::View;

/// Published hashes (the `.json` type descriptions rosidl generates; the
/// same values rmw_zenoh puts in key expressions).
const PUBLISHED: &[(&str, &str)] = &[
    (
        "builtin_interfaces/msg/Time",
        "RIHS01_b106235e25a4c5ed35098aa0a61a3ee9c9b18d197f398b0e4206cea9acf9c197",
    ),
    (
        "builtin_interfaces/msg/Duration",
        "RIHS01_e8d009f659816f758b75334ee1a9ca5b5c0b859843261f14c7f937349599d93b",
    ),
    (
        "std_msgs/msg/Header",
        "RIHS01_f49fb3ae2cf070f793645ff749683ac6b06203e41c891e17701b1cb597ce6a01",
    ),
    (
        "std_msgs/msg/String",
        "RIHS01_df668c740482bbd48fb39d76a70dfd4bd59db1288021743503259e948f6b1a18",
    ),
    (
        "geometry_msgs/msg/Vector3",
        "RIHS01_cc12fe83e4c02719f1ce8070bfd14aecd40f75a96696a67a2a1f37f7dbb0765d",
    ),
    (
        "geometry_msgs/msg/Point",
        "RIHS01_6963084842a9b04494d6b2941d11444708d892da2f4b09843b9c43f42a7f6881",
    ),
    (
        "geometry_msgs/msg/Quaternion",
        "RIHS01_8a765f66778c8ff7c8ab94afcc590a2ed5325a1d9a076ffff38fbce36f458684",
    ),
    (
        "geometry_msgs/msg/Pose",
        "RIHS01_d501954e9476cea2996984e812054b68026ae0bfae789d9a10b23daf35cc90fa",
    ),
    (
        "geometry_msgs/msg/PoseStamped",
        "RIHS01_10f3786d7d40fd2b54367835614bff85d4ad3b5dab62bf8bca0cc232d73b4cd8",
    ),
    (
        "geometry_msgs/msg/PoseWithCovariance",
        "RIHS01_9a7c0fd234b7f45c6098745ecccd773ca1085670e64107135397aee31c02e1bb",
    ),
    (
        "geometry_msgs/msg/Twist",
        "RIHS01_9c45bf16fe0983d80e3cfe750d6835843d265a9a6c46bd2e609fcddde6fb8d2a",
    ),
    (
        "geometry_msgs/msg/TwistStamped",
        "RIHS01_5f0fcd4f81d5d06ad9b4c4c63e3ea51b82d6ae4d0558f1d475229b1121db6f64",
    ),
    (
        "geometry_msgs/msg/TwistWithCovariance",
        "RIHS01_49f574f033f095d8b6cd1beaca5ca7925e296e84af1716d16c89d38b059c8c18",
    ),
    (
        "geometry_msgs/msg/Accel",
        "RIHS01_dc448243ded9b1fcbcca24aba0c22f013dae06c354ba2d849571c0a2a3f57ca0",
    ),
    (
        "nav_msgs/msg/Odometry",
        "RIHS01_3cc97dc7fb7502f8714462c526d369e35b603cfc34d946e3f2eda2766dfec6e0",
    ),
    (
        "geometry_msgs/msg/Transform",
        "RIHS01_beb83fbe698636351461f6f35d1abb20010c43d55374d81bd041f1ba2581fddc",
    ),
    (
        "geometry_msgs/msg/TransformStamped",
        "RIHS01_0a241f87d04668d94099cbb5ba11691d5ad32c2f29682e4eb5653424bd275206",
    ),
    (
        "tf2_msgs/msg/TFMessage",
        "RIHS01_e369d0f05a23ae52508854b66f6aa0437f3449d652e8cbf22d5abe85d020f087",
    ),
    (
        "sensor_msgs/msg/Imu",
        "RIHS01_7d9a00ff131080897a5ec7e26e315954b8eae3353c3f995c55faf71574000b5b",
    ),
    (
        "sensor_msgs/msg/JointState",
        "RIHS01_a13ee3a330e346c9d87b5aa18d24e11690752bd33a0350f11c5882bc9179260e",
    ),
    (
        "sensor_msgs/msg/BatteryState",
        "RIHS01_4bee5dfce981c98faa6828b868307a0a73f992ed0789f374ee96c8f840e69741",
    ),
    (
        "sensor_msgs/msg/LaserScan",
        "RIHS01_64c191398013af96509d518dac71d5164f9382553fce5c1f8cca5be7924bd828",
    ),
    (
        "sensor_msgs/msg/Image",
        "RIHS01_d31d41a9a4c4bc8eae9be757b0beed306564f7526c88ea6a4588fb9582527d47",
    ),
    (
        "sensor_msgs/msg/PointCloud2",
        "RIHS01_9198cabf7da3796ae6fe19c4cb3bdd3525492988c70522628af5daa124bae2b5",
    ),
];

fn views() -> Vec<View> {
    vec![
        View::of::<m::Time>().unwrap(),
        View::of::<m::Duration>().unwrap(),
        View::of::<m::Header>().unwrap(),
        View::of::<m::Text>().unwrap(),
        View::of::<m::Vector3>().unwrap(),
        View::of::<m::Point>().unwrap(),
        View::of::<m::Quaternion>().unwrap(),
        View::of::<m::Pose>().unwrap(),
        View::of::<m::PoseStamped>().unwrap(),
        View::of::<m::PoseWithCovariance>().unwrap(),
        View::of::<m::Twist>().unwrap(),
        View::of::<m::TwistStamped>().unwrap(),
        View::of::<m::TwistWithCovariance>().unwrap(),
        View::of::<m::Accel>().unwrap(),
        View::of::<m::Odometry>().unwrap(),
        View::of::<m::Transform>().unwrap(),
        View::of::<m::TransformStamped>().unwrap(),
        View::of::<m::TfMessage>().unwrap(),
        View::of::<m::Imu>().unwrap(),
        View::of::<m::JointState>().unwrap(),
        View::of::<m::BatteryState>().unwrap(),
        View::of::<m::LaserScan>().unwrap(),
        View::of::<m::Image>().unwrap(),
        View::of::<m::PointCloud>().unwrap(),
    ]
}

#[test]
fn standard_type_hashes_equal_the_published_ros2_hashes() {
    let views = views();
    assert_eq!(views.len(), PUBLISHED.len());
    for (view, (name, hash)) in views.iter().zip(PUBLISHED) {
        assert_eq!(view.type_name(), *name);
        assert_eq!(view.type_hash(), *hash, "{name}:\n{}", view.msg_text());
    }
}

#[test]
fn imu_schema_text_is_the_ros_definition_with_its_dependencies() {
    let view = View::of::<m::Imu>().unwrap();
    assert_eq!(view.dds_type_name(), "sensor_msgs::msg::dds_::Imu_");
    let text = view.msg_text();
    let sep = "=".repeat(80);
    let expected = format!(
        "std_msgs/Header header
geometry_msgs/Quaternion orientation
float64[9] orientation_covariance
geometry_msgs/Vector3 angular_velocity
float64[9] angular_velocity_covariance
geometry_msgs/Vector3 linear_acceleration
float64[9] linear_acceleration_covariance
{sep}
MSG: std_msgs/msg/Header
builtin_interfaces/Time stamp
string frame_id
{sep}
MSG: builtin_interfaces/msg/Time
int32 sec
uint32 nanosec
{sep}
MSG: geometry_msgs/msg/Quaternion
float64 x
float64 y
float64 z
float64 w
{sep}
MSG: geometry_msgs/msg/Vector3
float64 x
float64 y
float64 z
"
    );
    assert_eq!(text, expected);
}
