"""The AWS CDK app of Windsock: one Construct per concern, one stack composing them."""
