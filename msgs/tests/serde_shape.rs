//! What users see when tools print or read samples.

use axon_msgs::*;
use serde_json::json;

#[test]
fn fixed_string_is_a_plain_string() {
    let s = FrameId::new("map");
    assert_eq!(serde_json::to_value(s).unwrap(), json!("map"));
    let back: FrameId = serde_json::from_value(json!("odom")).unwrap();
    assert_eq!(back, "odom");
}

#[test]
fn a_too_long_string_is_an_error_not_a_truncation() {
    let err = serde_json::from_value::<FixedString<4>>(json!("abcdef")).unwrap_err();
    assert!(err.to_string().contains("does not fit"), "{err}");
}

#[test]
fn time_is_sec_and_nanosec_without_padding() {
    assert_eq!(
        serde_json::to_value(Time::new(3, 4)).unwrap(),
        json!({"sec": 3, "nanosec": 4})
    );
    let back: Time = serde_json::from_value(json!({"sec": 3, "nanosec": 4})).unwrap();
    assert_eq!(back, Time::new(3, 4));
}

#[test]
fn header_and_text_read_as_in_ros() {
    let h = Header::new(Time::new(1, 2), "laser");
    assert_eq!(
        serde_json::to_value(h).unwrap(),
        json!({"stamp": {"sec": 1, "nanosec": 2}, "frame_id": "laser", "seq": 0})
    );
    assert_eq!(
        serde_json::to_value(Text::new("hi")).unwrap(),
        json!({"data": "hi"})
    );
}

#[test]
fn joint_state_prints_only_the_valid_joints() {
    let mut js = JointState::default();
    js.push("wrist", 1.5, 0.0, 0.0).unwrap();
    let json = serde_json::to_value(js).unwrap();
    assert_eq!(json["name"], json!(["wrist"]));
    assert_eq!(json["position"], json!([1.5]));
    assert_eq!(json["effort"], json!([0.0]));
}

#[test]
fn joint_state_reads_ros_style_input() {
    let js: JointState = serde_json::from_value(json!({
        "name": ["a", "b"],
        "position": [1.0, 2.0],
    }))
    .unwrap();
    assert_eq!(js.len(), 2);
    assert_eq!(js.index_of("b"), Some(1));
    assert_eq!(js.velocities(), [0.0, 0.0]);

    let mismatched = serde_json::from_value::<JointState>(json!({
        "name": ["a", "b"],
        "position": [1.0],
    }));
    assert!(mismatched.is_err());
    let too_many = serde_json::from_value::<JointState>(json!({
        "name": vec!["j"; MAX_JOINTS + 1],
        "position": vec![0.0; MAX_JOINTS + 1],
    }));
    assert!(too_many.is_err());
}

#[test]
fn joint_state_is_bounded() {
    let mut js = JointState::default();
    for i in 0..MAX_JOINTS {
        js.push(&format!("j{i}"), 0.0, 0.0, 0.0).unwrap();
    }
    assert_eq!(js.push("one too many", 0.0, 0.0, 0.0), Err(JointStateFull));
    // A hostile count from a peer is clamped.
    js.count = u32::MAX;
    assert_eq!(js.positions().len(), MAX_JOINTS);
}

#[test]
fn covariances_longer_than_32_are_lists() {
    let json = serde_json::to_value(PoseWithCovariance::default()).unwrap();
    assert_eq!(json["covariance"].as_array().unwrap().len(), 36);
    assert_eq!(json["pose"]["orientation"]["w"], 1.0);
    let mut short = json.clone();
    short["covariance"] = json!([0.0, 1.0]);
    assert!(serde_json::from_value::<PoseWithCovariance>(short).is_err());
}

#[test]
fn tf_message_is_a_list_of_its_valid_transforms_and_bounded() {
    let mut tf = TfMessage::default();
    let mut t = TransformStamped::default();
    t.header.frame_id = FrameId::new("odom");
    t.child_frame_id = FrameId::new("base_link");
    t.transform.translation.x = 1.5;
    tf.push(t).unwrap();
    let json = serde_json::to_value(tf).unwrap();
    assert_eq!(json["transforms"].as_array().unwrap().len(), 1);
    assert_eq!(json["transforms"][0]["child_frame_id"], json!("base_link"));
    assert_eq!(
        json["transforms"][0]["transform"]["rotation"]["w"],
        json!(1.0)
    );
    let back: TfMessage = serde_json::from_value(json).unwrap();
    assert_eq!(back, tf);
    for _ in 1..MAX_TRANSFORMS {
        tf.push(t).unwrap();
    }
    assert_eq!(tf.push(t), Err(TfMessageFull));
    let too_many = serde_json::from_value::<TfMessage>(json!({
        "transforms": vec![serde_json::to_value(t).unwrap(); MAX_TRANSFORMS + 1],
    }));
    let err = too_many.unwrap_err().to_string();
    assert!(err.contains("at most 16"), "{err}");
    // A hostile count from a peer is clamped.
    tf.count = u32::MAX;
    assert_eq!(tf.transforms().len(), MAX_TRANSFORMS);
}
