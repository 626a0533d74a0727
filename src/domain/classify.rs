//! Fault classification: phrases in the title and description suggest a level. English phrases
//! match whole words case-insensitively ("down" is not "download"); Chinese phrases match as
//! substrings. The most severe match wins; nothing matched gives the configured default.

use serde::Serialize;

use super::level::Level;

#[derive(Debug, Clone)]
struct Phrase {
    text: String,
    lower: String,
    whole_word: bool,
}

#[derive(Debug, Clone)]
pub struct Rule {
    name: String,
    level: Level,
    phrases: Vec<Phrase>,
}

impl Rule {
    pub fn new(name: &str, level: Level, phrases: &[String]) -> Self {
        Self {
            name: name.to_string(),
            level,
            phrases: phrases
                .iter()
                .map(|p| Phrase { text: p.clone(), lower: p.to_lowercase(), whole_word: !p.chars().any(is_cjk) })
                .collect(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Classifier {
    rules: Vec<Rule>,
    default_level: Level,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Classification {
    pub level: Level,
    pub rule: Option<String>,
    pub matched: Vec<String>,
}

impl Classifier {
    pub fn new(mut rules: Vec<Rule>, default_level: Level) -> Self {
        rules.sort_by(|a, b| a.level.cmp(&b.level).then_with(|| a.name.cmp(&b.name)));
        Self { rules, default_level }
    }

    pub fn classify(&self, title: &str, description: &str) -> Classification {
        let text = format!("{title}\n{description}").to_lowercase();
        for rule in &self.rules {
            let matched: Vec<String> = rule
                .phrases
                .iter()
                .filter(|p| contains(&text, &p.lower, p.whole_word))
                .map(|p| p.text.clone())
                .collect();
            if !matched.is_empty() {
                return Classification { level: rule.level, rule: Some(rule.name.clone()), matched };
            }
        }
        Classification { level: self.default_level, rule: None, matched: Vec::new() }
    }
}

fn contains(text: &str, phrase: &str, whole_word: bool) -> bool {
    if phrase.is_empty() {
        return false;
    }
    if !whole_word {
        return text.contains(phrase);
    }
    text.match_indices(phrase).any(|(i, _)| {
        let before = text[..i].chars().next_back();
        let after = text[i + phrase.len()..].chars().next();
        !before.is_some_and(is_word_char) && !after.is_some_and(is_word_char)
    })
}

/// Letters and digits of alphabetic scripts; CJK characters are not part of English words, so
/// "系统down了" still contains the word "down".
fn is_word_char(c: char) -> bool {
    (c.is_alphanumeric() || c == '_') && !is_cjk(c)
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3000..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xAC00..=0xD7AF | 0xFF00..=0xFFEF)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classifier() -> Classifier {
        let r = |name: &str, level, ps: &[&str]| {
            Rule::new(name, level, &ps.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        Classifier::new(
            vec![
                r(
                    "outage",
                    Level::I,
                    &["系统崩溃", "宕机", "业务中断", "数据丢失", "crash", "outage", "down", "data loss"],
                ),
                r("degraded", Level::II, &["部分模块", "性能下降", "slow", "degraded"]),
                r("errors", Level::III, &["报错", "警告", "error", "warning"]),
                r("howto", Level::IV, &["安装", "配置", "咨询", "how to", "install", "configure"]),
            ],
            Level::III,
        )
    }

    #[test]
    fn chinese_outage_is_level_one_with_its_phrases() {
        let c = classifier().classify("系统崩溃，业务中断", "");
        assert_eq!(c.level, Level::I);
        assert_eq!(c.rule.as_deref(), Some("outage"));
        assert_eq!(c.matched, vec!["系统崩溃", "业务中断"]);
    }

    #[test]
    fn download_is_not_down() {
        let c = classifier().classify("Download page", "how to download the installer");
        assert_eq!(c.level, Level::IV);
        assert_eq!(c.matched, vec!["how to"]);
    }

    #[test]
    fn english_matches_whole_words_case_insensitively_next_to_chinese() {
        assert_eq!(classifier().classify("Server DOWN", "").level, Level::I);
        assert_eq!(classifier().classify("系统down了", "").level, Level::I);
        assert_eq!(classifier().classify("errors everywhere", "").level, Level::III);
        assert_eq!(classifier().classify("an error, again", "").matched, vec!["error"]);
    }

    #[test]
    fn most_severe_match_wins_and_nothing_gives_the_default() {
        assert_eq!(classifier().classify("slow and then crash", "").level, Level::I);
        let none = classifier().classify("hello", "world");
        assert_eq!((none.level, none.rule, none.matched.len()), (Level::III, None, 0));
    }
}
