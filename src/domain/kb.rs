//! The knowledge base's rules (README: Knowledge base): an article's states and who moves it
//! between them, who reads which article, and what counts as reuse. Pure.

use super::ticket::Role;

crate::text_enum! {
    /// Where an article stands: engineers write drafts and ask for review; leads publish and
    /// retire. Only published articles are suggested to customers.
    pub enum ArticleState ("article state") {
        Draft = "draft",
        Review = "review",
        Published = "published",
        Retired = "retired",
    }
}

crate::text_enum! {
    /// Who may read an article: staff only, or the customers' contacts too (once published).
    pub enum ArticleVisibility ("article visibility") {
        Internal = "internal",
        Customer = "customer",
    }
}

crate::text_enum! {
    /// What happened to a suggestion or an article (`opsline_knowledge_suggestions_total{outcome}`).
    pub enum KbOutcome ("knowledge-base outcome") {
        /// Suggested to someone typing.
        Shown = "shown",
        /// Its page was opened from a suggestion.
        Opened = "opened",
        /// An agent linked it to the ticket they work on.
        Used = "used",
        /// A ticket's resolution cites it.
        SolvedBy = "solved_by",
        /// A reader answered "yes, this solved my problem".
        Helpful = "helpful",
        /// A reader answered "no".
        NotHelpful = "not_helpful",
    }
}

crate::text_enum! {
    /// What a search document is.
    pub enum DocKind ("search document kind") {
        Ticket = "ticket",
        Article = "article",
    }
}

crate::text_enum! {
    /// A move of an article between states.
    pub enum ArticleMove ("article action") {
        Submit = "submit",
        Publish = "publish",
        Retire = "retire",
        Reopen = "reopen",
    }
}

/// Why a move is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveRefusal {
    /// The role may not make this move.
    Forbidden,
    /// Not from this state; the moves that are possible from it.
    NotNow(Vec<ArticleMove>),
}

/// Whether `role` may write or edit articles.
pub fn may_write(role: Role) -> bool {
    role >= Role::Engineer
}

/// Whether `role` may publish and retire.
pub fn may_publish(role: Role) -> bool {
    role >= Role::Lead
}

/// The state a move leads to from `from`, if it may be made by `role`:
/// draft → review (submit, an engineer); draft or review → published (publish, a lead);
/// published → retired (retire, a lead); review, published or retired → draft (reopen: an
/// engineer from review, a lead otherwise).
pub fn next_state(from: ArticleState, mv: ArticleMove, role: Role) -> Result<ArticleState, MoveRefusal> {
    let Some((to, lead)) = target(from, mv) else {
        let possible = ArticleMove::ALL.into_iter().filter(|m| target(from, *m).is_some()).collect();
        return Err(MoveRefusal::NotNow(possible));
    };
    let allowed = if lead { may_publish(role) } else { may_write(role) };
    if allowed { Ok(to) } else { Err(MoveRefusal::Forbidden) }
}

/// Where a move leads from `from`, and whether it takes a lead.
fn target(from: ArticleState, mv: ArticleMove) -> Option<(ArticleState, bool)> {
    use ArticleMove as M;
    use ArticleState as S;
    Some(match (from, mv) {
        (S::Draft, M::Submit) => (S::Review, false),
        (S::Draft | S::Review, M::Publish) => (S::Published, true),
        (S::Published, M::Retire) => (S::Retired, true),
        (S::Review, M::Reopen) => (S::Draft, false),
        (S::Published | S::Retired, M::Reopen) => (S::Draft, true),
        _ => return None,
    })
}

/// Whether an article in `state` may be edited: drafts and articles in review. A published
/// article is reopened as a draft first, so what readers see changes only through review.
pub fn editable(state: ArticleState) -> bool {
    matches!(state, ArticleState::Draft | ArticleState::Review)
}

/// Whether a customer's contact may read an article.
pub fn contact_reads(state: ArticleState, visibility: ArticleVisibility) -> bool {
    state == ArticleState::Published && visibility == ArticleVisibility::Customer
}

/// The reference an article is cited by in a ticket's text (`KB-12`).
pub fn reference(id: i64) -> String {
    format!("KB-{id}")
}

/// The articles a text cites (`KB-12`, `kb-12`, `/kb/articles/12`), each once.
pub fn cited(text: &str) -> Vec<i64> {
    let lower = text.to_lowercase();
    let mut out = Vec::new();
    for marker in ["kb-", "kb/articles/"] {
        let mut rest = lower.as_str();
        while let Some(i) = rest.find(marker) {
            let before_ok = i == 0 || !rest[..i].ends_with(|c: char| c.is_alphanumeric());
            rest = &rest[i + marker.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if before_ok
                && let Ok(id) = digits.parse::<i64>()
                && !out.contains(&id)
            {
                out.push(id);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ArticleMove as M;
    use ArticleState as S;

    #[test]
    fn every_state_and_move_for_engineers_and_leads() {
        // (from, move, engineer's result, lead's result); None = not from this state.
        let table = [
            (S::Draft, M::Submit, Some(Ok(S::Review)), Some(Ok(S::Review))),
            (S::Draft, M::Publish, Some(Err(())), Some(Ok(S::Published))),
            (S::Draft, M::Retire, None, None),
            (S::Draft, M::Reopen, None, None),
            (S::Review, M::Submit, None, None),
            (S::Review, M::Publish, Some(Err(())), Some(Ok(S::Published))),
            (S::Review, M::Reopen, Some(Ok(S::Draft)), Some(Ok(S::Draft))),
            (S::Published, M::Retire, Some(Err(())), Some(Ok(S::Retired))),
            (S::Published, M::Reopen, Some(Err(())), Some(Ok(S::Draft))),
            (S::Published, M::Publish, None, None),
            (S::Retired, M::Reopen, Some(Err(())), Some(Ok(S::Draft))),
            (S::Retired, M::Retire, None, None),
        ];
        for (from, mv, engineer, lead) in table {
            for (role, want) in [(Role::Engineer, engineer), (Role::Lead, lead)] {
                let got = next_state(from, mv, role);
                match want {
                    None => assert!(matches!(got, Err(MoveRefusal::NotNow(_))), "{from} {mv} {role:?}: {got:?}"),
                    Some(Err(())) => assert_eq!(got, Err(MoveRefusal::Forbidden), "{from} {mv} {role:?}"),
                    Some(Ok(to)) => assert_eq!(got, Ok(to), "{from} {mv} {role:?}"),
                }
            }
            assert_eq!(next_state(from, mv, Role::Agent).ok(), None, "agents move nothing");
        }
        assert_eq!(
            next_state(S::Published, M::Publish, Role::Lead),
            Err(MoveRefusal::NotNow(vec![M::Retire, M::Reopen]))
        );
    }

    #[test]
    fn contacts_read_only_published_customer_articles() {
        for s in ArticleState::ALL {
            for v in ArticleVisibility::ALL {
                assert_eq!(contact_reads(s, v), s == S::Published && v == ArticleVisibility::Customer);
            }
        }
    }

    #[test]
    fn a_resolution_cites_articles_by_reference_or_link() {
        assert_eq!(cited("按 KB-12 处理，见 https://x/kb/articles/7 与 kb-12"), [12, 7]);
        assert!(cited("NKB-3 KB- kb-x").is_empty());
    }
}
