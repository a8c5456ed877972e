"""Convert purchase amounts to EUR, chunk by chunk; unknown currencies are reported."""

from trakt import step_contract


@step_contract(inputs=["input", "rates"], outputs=["output"], supports_stream=True)
def run(ctx, input, rates):
    def converted():
        for chunk in input:
            unknown = sorted(set(chunk["currency"]) - set(rates))
            if unknown:
                ctx.emit_event("warning.unknown_currency", currencies=unknown)
            yield chunk.assign(amount_eur=(chunk["amount"] * chunk["currency"].map(rates)).round(2))

    return {"output": converted()}
