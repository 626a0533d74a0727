//! A Prometheus HTTP API answer to an instant query (`/api/v1/query`) read into series: a vector
//! is its series, each named by its labels (`__name__` as the name, when the query kept it); a
//! scalar is one series without a name. A range query's matrix is refused: a check judges now.

use serde::Deserialize;

use crate::domain::check::exposition::Series;

/// `status` of an answer of Prometheus's query API.
#[derive(Deserialize, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
enum AnswerStatus {
    Success,
    Error,
}

#[derive(Deserialize)]
struct Answer {
    status: AnswerStatus,
    #[serde(default)]
    data: Option<Data>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum Data {
    Vector(Vec<Sample>),
    Scalar((f64, String)),
    String(serde::de::IgnoredAny),
    Matrix(serde::de::IgnoredAny),
}

#[derive(Deserialize)]
struct Sample {
    metric: std::collections::BTreeMap<String, String>,
    value: (f64, String),
}

fn number(s: &str) -> Result<f64, String> {
    match s {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => s.parse().map_err(|_| format!("`{s}` is not a number")),
    }
}

/// The series of an answer, or why there are none.
pub fn series(body: &[u8]) -> Result<Vec<Series>, String> {
    let answer: Answer =
        serde_json::from_slice(body).map_err(|e| format!("not an answer of Prometheus's query API: {e}"))?;
    if answer.status != AnswerStatus::Success {
        return Err(format!(
            "Prometheus refused the query: {}",
            answer.error.unwrap_or_else(|| "no reason given".into())
        ));
    }
    match answer.data {
        Some(Data::Vector(samples)) => samples
            .into_iter()
            .map(|s| {
                let mut labels = s.metric;
                let name = labels.remove("__name__").unwrap_or_default();
                Ok(Series { name, labels: labels.into_iter().collect(), value: number(&s.value.1)? })
            })
            .collect(),
        Some(Data::Scalar((_, v))) => Ok(vec![Series { name: String::new(), labels: vec![], value: number(&v)? }]),
        Some(Data::String(_)) => Err("the query answers a string, not a number".into()),
        Some(Data::Matrix(_)) => Err("the query answers a range (a matrix): use an instant query".into()),
        None => Err("the answer has no data".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_and_scalars_become_series_and_errors_say_why() {
        let v = br#"{"status":"success","data":{"resultType":"vector","result":[
            {"metric":{"__name__":"up","instance":"a:9100","job":"node"},"value":[1.7e9,"1"]},
            {"metric":{"instance":"b:9100"},"value":[1.7e9,"NaN"]}]}}"#;
        let s = series(v).unwrap();
        assert_eq!((s[0].name.as_str(), s[0].label("job"), s[0].value), ("up", Some("node"), 1.0));
        assert_eq!(s[0].to_string(), r#"up{instance="a:9100",job="node"}"#);
        assert!(s[1].value.is_nan() && s[1].name.is_empty());
        let scalar = br#"{"status":"success","data":{"resultType":"scalar","result":[1.7e9,"0.25"]}}"#;
        assert_eq!(series(scalar).unwrap()[0].value, 0.25);
        let empty = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(series(empty).unwrap().is_empty());
        let bad = br#"{"status":"error","errorType":"bad_data","error":"parse error at char 4"}"#;
        assert!(series(bad).unwrap_err().contains("parse error at char 4"));
        let matrix = br#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;
        assert!(series(matrix).unwrap_err().contains("instant query"));
        assert!(series(b"<html>").unwrap_err().contains("not an answer"));
    }
}
