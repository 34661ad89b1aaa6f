// The blog's pre-token-generation trigger (AWS Security Blog, "Use Amazon Cognito to add
// claims to an identity token for fine-grained authorization"; seed 001), reconstructed
// from the post for the benchmark baseline: aws-sdk v2, a Query on UserInfoTable.
const AWS = require("aws-sdk");
var ddb = new AWS.DynamoDB({ apiVersion: "2012-08-10" });
exports.handler = async function (event, context) {
  if (!event.userName) {
    return event;
  }
  var params = {
    ExpressionAttributeValues: { ":v1": { S: event.userName } },
    KeyConditionExpression: "userName = :v1",
    ProjectionExpression: "projects",
    TableName: "UserInfoTable",
  };
  event.response = {
    claimsOverrideDetails: {
      claimsToAddOrOverride: { userName: event.userName, projects: null },
    },
  };
  try {
    let result = await ddb.query(params).promise();
    if (result.Items.length > 0) {
      const projects = result.Items[0]["projects"]["S"];
      console.log("projects = " + projects);
      event.response.claimsOverrideDetails.claimsToAddOrOverride.projects = projects;
    }
  } catch (error) {
    console.log(error);
  }
  return event;
};
