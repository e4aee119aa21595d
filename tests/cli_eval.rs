//! `sc-bench eval`: bad input. (Its results on a trained model are checked
//! by `cli_train::a_brief_study_shows_the_papers_effects`.)

use crate::{json_of, sc_bench};

#[test]
fn bad_model_and_attack_arguments_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let weights = dir.path().join("w.safetensors");
    // A valid small-cnn weights file, then loaded as another architecture.
    let run = dir.path().join("r");
    json_of(&sc_bench(&[
        "train",
        "--data",
        "shapes:n=32,test=8,size=16",
        "--epochs",
        "1",
        "--batch-size",
        "16",
        "--run",
        run.to_str().unwrap(),
        "--json",
    ]));
    let ck = run.join("checkpoints");
    let stem = std::fs::read_dir(&ck)
        .unwrap()
        .filter_map(|e| {
            e.ok()?
                .file_name()
                .to_str()?
                .strip_suffix(".json")
                .map(String::from)
        })
        .next()
        .unwrap();
    std::fs::copy(ck.join(format!("{stem}.safetensors")), &weights).unwrap();
    let w = weights.to_str().unwrap();
    let r = run.to_str().unwrap();
    let data = "shapes:n=32,test=8,size=16";
    for (args, needles) in [
        (
            vec!["--model", "vgg", "--weights", w],
            vec!["vgg", "small-cnn"],
        ),
        (
            vec!["--model", "resnet18", "--weights", w],
            vec!["w.safetensors", "conv1.weight"],
        ),
        (vec!["--run", r, "--eps=-1/255"], vec!["eps"]),
        (vec!["--run", r, "--steps", "0"], vec!["steps"]),
        (vec!["--run", r, "--attack", "cw"], vec!["cw"]),
        (vec!["--run", "/nonexistent/run"], vec!["/nonexistent/run"]),
    ] {
        let mut all = vec!["eval", "--data", data];
        all.extend(args.iter().copied());
        let out = sc_bench(&all);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{all:?} succeeded");
        assert_eq!(err.trim_end().lines().count(), 1, "{all:?}: {err}");
        for n in needles {
            assert!(err.contains(n), "{all:?}: {err:?} lacks {n:?}");
        }
    }
    // The file written by the trainer loads as small-cnn weights and evaluates.
    let ok = json_of(&sc_bench(&[
        "eval",
        "--model",
        "small-cnn",
        "--weights",
        w,
        "--data",
        data,
        "--no-sanity",
        "--json",
    ]));
    assert_eq!(ok["n"], 8);
}
