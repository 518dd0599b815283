//! Statements made from the documents they pay, for the demo and the tests: a CAMT.053.001.02
//! file as German banks write it, one entry per transaction, structured (RF) or unstructured
//! remittance. (Not used for imports: those read what the bank wrote.)

/// One credit or debit of a test statement.
pub struct Entry {
    pub reference: String,
    pub amount: String,
    pub credit: bool,
    pub payer: String,
    /// `Some(rf)`: a structured creditor reference; else `text` is the unstructured remittance.
    pub creditor_reference: Option<String>,
    pub text: String,
    pub end_to_end_id: Option<String>,
}

impl Entry {
    pub fn credit(reference: &str, amount: &str, payer: &str, text: &str) -> Entry {
        Entry {
            reference: reference.into(),
            amount: amount.into(),
            credit: true,
            payer: payer.into(),
            creditor_reference: None,
            text: text.into(),
            end_to_end_id: None,
        }
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A CAMT.053.001.02 statement `id` of account DE02120300000000202051 on 2026-12-15.
pub fn camt053(id: &str, entries: &[Entry]) -> Vec<u8> {
    let mut xml = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">
<BkToCstmrStmt><GrpHdr><MsgId>{id}</MsgId><CreDtTm>2026-12-16T06:00:00+01:00</CreDtTm></GrpHdr>
<Stmt><Id>{id}</Id><Acct><Id><IBAN>DE02120300000000202051</IBAN></Id><Ccy>EUR</Ccy></Acct>
"#
    );
    for e in entries {
        let indicator = if e.credit { "CRDT" } else { "DBIT" };
        let party = if e.credit {
            format!("<Dbtr><Nm>{}</Nm></Dbtr>", escape(&e.payer))
        } else {
            format!("<Cdtr><Nm>{}</Nm></Cdtr>", escape(&e.payer))
        };
        let remittance = match &e.creditor_reference {
            Some(rf) => format!(
                "<Strd><CdtrRefInf><Tp><CdOrPrtry><Cd>SCOR</Cd></CdOrPrtry></Tp><Ref>{rf}</Ref></CdtrRefInf></Strd>"
            ),
            None => e
                .text
                .split('\n')
                .map(|line| format!("<Ustrd>{}</Ustrd>", escape(line)))
                .collect(),
        };
        let e2e = e.end_to_end_id.as_deref().unwrap_or("NOTPROVIDED");
        xml.push_str(&format!(
            r#"<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>{indicator}</CdtDbtInd><Sts>BOOK</Sts>
<BookgDt><Dt>2026-12-15</Dt></BookgDt><ValDt><Dt>2026-12-15</Dt></ValDt><AcctSvcrRef>{reference}</AcctSvcrRef>
<NtryDtls><TxDtls><Refs><EndToEndId>{e2e}</EndToEndId></Refs><RltdPties>{party}</RltdPties><RmtInf>{remittance}</RmtInf></TxDtls></NtryDtls></Ntry>
"#,
            amount = e.amount,
            reference = e.reference,
        ));
    }
    xml.push_str("</Stmt></BkToCstmrStmt></Document>\n");
    xml.into_bytes()
}
